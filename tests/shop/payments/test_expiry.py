"""Expiry of unpaid orders: payments are closed at Stripe first, and a payment the
buyer completed meanwhile pays the order instead of it being canceled."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from shop.orders.models import Order, OrderStatus
from shop.orders.services import order_transition
from shop.payments import services
from shop.payments.models import Payment, PaymentStatus
from shop.payments.services import orders_expire
from tests.e2e.servers import free_port
from tests.factories import make_product
from tests.orders_helpers import guest_cart, guest_checkout
from tests.payments_helpers import open_session, stock

pytestmark = pytest.mark.django_db

S = OrderStatus


@pytest.fixture
def variant(db):
    return make_product(variants=[{"quantity_available": 10}]).variants.get()


def reservation_ended(order: Order, minutes_ago: int = 1) -> None:
    Order.objects.filter(pk=order.pk).update(
        reserved_until=timezone.now() - timedelta(minutes=minutes_ago)
    )


def status(order: Order) -> str:
    return Order.objects.get(pk=order.pk).status


def test_a_new_order_is_reserved_for_the_configured_minutes(variant, settings):
    settings.ORDER_RESERVATION_MINUTES = 45
    order = guest_checkout(guest_cart((variant, 1)))
    held = order.reserved_until - timezone.now()
    assert timedelta(minutes=44) < held <= timedelta(minutes=45)


def test_expiry_cancels_unpaid_orders_past_their_reservation_only(variant):
    old = guest_checkout(guest_cart((variant, 2)))
    young = guest_checkout(guest_cart((variant, 1)))
    paid = guest_checkout(guest_cart((variant, 1)))
    reservation_ended(old)
    reservation_ended(paid, 15)
    order_transition(order_id=paid.pk, to_status=S.PAID)
    assert stock(variant) == 6

    assert orders_expire() == [old.pk]
    assert [status(o) for o in (old, young, paid)] == [
        S.CANCELED,
        S.PENDING_PAYMENT,
        S.PAID,
    ]
    assert stock(variant) == 8
    # running it again changes nothing
    assert orders_expire() == []
    assert stock(variant) == 8


def test_expiry_skips_an_order_paid_meanwhile(variant, monkeypatch):
    order = guest_checkout(guest_cart((variant, 2)))
    reservation_ended(order)
    real = services.order_expire

    def pay_first(*, order_id, now):
        # a payment lands between the candidate list and the order's lock
        order_transition(order_id=order_id, to_status=S.PAID)
        return real(order_id=order_id, now=now)

    monkeypatch.setattr(services, "order_expire", pay_first)
    assert orders_expire() == []
    assert status(order) == S.PAID
    assert stock(variant) == 8


def test_an_open_session_is_expired_at_stripe_first(stripe_fake, variant):
    order = guest_checkout(guest_cart((variant, 2)))
    payment = open_session(order)
    # the session covers the reservation: not expired before the session ends
    assert orders_expire() == []
    reservation_ended(order)

    assert orders_expire() == [order.pk]
    [expire] = [c for c in stripe_fake.calls if c.path.endswith("/expire")]
    assert (
        expire.path
        == f"/v1/checkout/sessions/{payment.stripe_checkout_session_id}/expire"
    )
    assert (
        stripe_fake.sessions[payment.stripe_checkout_session_id]["status"] == "expired"
    )
    assert Payment.objects.get(pk=payment.pk).status == PaymentStatus.EXPIRED
    assert status(order) == S.CANCELED
    assert stock(variant) == 10


def test_a_session_completed_at_stripe_pays_the_order(stripe_fake, variant):
    order = guest_checkout(guest_cart((variant, 2)))
    payment = open_session(order)
    stripe_fake.complete_session(payment.stripe_checkout_session_id)
    reservation_ended(order)

    assert orders_expire() == []
    payment.refresh_from_db()
    assert (payment.status, payment.settles_order) == (PaymentStatus.SUCCEEDED, True)
    assert payment.amount_received == payment.amount
    assert payment.stripe_payment_intent_id.startswith("pi_test_")
    assert status(order) == S.PAID
    assert stock(variant) == 8


def test_a_payment_still_processing_keeps_the_order(stripe_fake, variant):
    order = guest_checkout(guest_cart((variant, 2)))
    payment = open_session(order)
    stripe_fake.complete_session(payment.stripe_checkout_session_id, "unpaid")
    reservation_ended(order)

    assert orders_expire() == []
    assert Payment.objects.get(pk=payment.pk).status == PaymentStatus.PROCESSING
    calls = len(stripe_fake.calls)
    assert orders_expire() == []  # and Stripe is not asked again
    assert len(stripe_fake.calls) == calls
    assert status(order) == S.PENDING_PAYMENT
    assert stock(variant) == 8


def test_an_open_payment_intent_is_canceled_at_stripe(stripe_fake, variant):
    order = guest_checkout(guest_cart((variant, 1)))
    payment = services.payment_intent_create(order=order)
    reservation_ended(order)
    assert orders_expire() == [order.pk]
    assert stripe_fake.intents[payment.stripe_payment_intent_id]["status"] == "canceled"
    assert Payment.objects.get(pk=payment.pk).status == PaymentStatus.CANCELED
    assert stock(variant) == 10


def test_a_payment_intent_paid_meanwhile_pays_the_order(stripe_fake, variant):
    order = guest_checkout(guest_cart((variant, 1)))
    payment = services.payment_intent_create(order=order)
    stripe_fake.succeed_intent(payment.stripe_payment_intent_id)
    reservation_ended(order)
    assert orders_expire() == []
    assert status(order) == S.PAID
    assert Payment.objects.get(pk=payment.pk).status == PaymentStatus.SUCCEEDED
    assert stock(variant) == 9


def test_stripe_unreachable_postpones_expiry(stripe_fake, variant, settings, caplog):
    order = guest_checkout(guest_cart((variant, 2)))
    payment = open_session(order)
    reservation_ended(order)
    working = settings.STRIPE_API_BASE
    settings.STRIPE_API_BASE = f"http://127.0.0.1:{free_port()}"
    settings.STRIPE_MAX_NETWORK_RETRIES = 0

    assert orders_expire() == []
    assert "not expired yet" in caplog.text
    assert status(order) == S.PENDING_PAYMENT
    assert Payment.objects.get(pk=payment.pk).status == PaymentStatus.OPEN
    assert stock(variant) == 8

    settings.STRIPE_API_BASE = working
    assert orders_expire() == [order.pk]
    assert stock(variant) == 10


def test_a_session_unknown_to_stripe_does_not_block_expiry(stripe_fake, variant):
    order = guest_checkout(guest_cart((variant, 1)))
    payment = open_session(order)
    stripe_fake.sessions.clear()  # e.g. the keys were switched to another account
    reservation_ended(order)
    assert orders_expire() == [order.pk]
    assert Payment.objects.get(pk=payment.pk).status == PaymentStatus.EXPIRED


def test_a_vanished_order_does_not_stop_the_batch(variant, monkeypatch, caplog):
    first, gone, broken, last = (
        guest_checkout(guest_cart((variant, 1))) for _ in range(4)
    )
    for order in (first, gone, broken, last):
        reservation_ended(order)
    real = services.order_expire

    def meanwhile(*, order_id, now):
        if order_id == gone.pk:  # deleted behind the shop's back since the listing
            with connection.cursor() as cursor:
                cursor.execute(
                    "DELETE FROM orders_orderline WHERE order_id = %s", [order_id]
                )
                cursor.execute("DELETE FROM orders_order WHERE id = %s", [order_id])
        if order_id == broken.pk:
            raise RuntimeError("the database hiccuped")
        return real(order_id=order_id, now=now)

    monkeypatch.setattr(services, "order_expire", meanwhile)
    assert orders_expire() == [first.pk, last.pk]
    assert [status(o) for o in (first, broken, last)] == [
        S.CANCELED,
        S.PENDING_PAYMENT,
        S.CANCELED,
    ]
    assert stock(variant) == 10 - 4 + 2
    assert f"Order {broken.pk} not expired" in caplog.text
