"""Real parallel transactions on PostgreSQL: webhook deliveries racing each other,
the expiry task and buyers double-clicking."""

from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from shop.orders.models import CancelReason, Order, OrderStatus
from shop.orders.services import order_transition
from shop.payments import services
from shop.payments.models import Payment, PaymentStatus, StripeEvent
from tests.concurrency import race
from tests.factories import make_product
from tests.orders_helpers import guest_cart, guest_checkout
from tests.payments_helpers import deliver, ledger, open_session, stock
from tests.stripe_fake import stripe_event

pytestmark = pytest.mark.django_db(transaction=True)

S = OrderStatus


@pytest.fixture
def variant(db):
    return make_product(variants=[{"quantity_available": 10}]).variants.get()


def status(order) -> str:
    return Order.objects.get(pk=order.pk).status


def test_one_event_delivered_many_times_at_once(stripe_fake, variant):
    order = guest_checkout(guest_cart((variant, 2)))
    payment = open_session(order)
    session = stripe_fake.complete_session(payment.stripe_checkout_session_id)
    event = stripe_event("checkout.session.completed", session)

    responses = race([lambda: deliver(event) for _ in range(8)])
    assert [r.status_code for r in responses] == [200] * 8
    assert Counter(r.json()["duplicate"] for r in responses) == {True: 7, False: 1}
    assert ledger() == [("checkout.session.completed", "PROCESSED")]
    assert status(order) == S.PAID
    assert stock(variant) == 8


def test_a_late_payment_delivered_many_times_takes_the_stock_once(stripe_fake, variant):
    order = guest_checkout(guest_cart((variant, 4)))
    payment = open_session(order)
    order_transition(
        order_id=order.pk, to_status=S.CANCELED, cancel_reason=CancelReason.UNPAID
    )
    assert stock(variant) == 10
    session = stripe_fake.complete_session(payment.stripe_checkout_session_id)
    event = stripe_event("checkout.session.completed", session)

    race([lambda: deliver(event) for _ in range(6)])
    assert status(order) == S.PAID
    assert stock(variant) == 6
    assert StripeEvent.objects.count() == 1


def test_the_session_and_its_intent_reported_at_once(stripe_fake, variant):
    order = guest_checkout(guest_cart((variant, 1)))
    payment = open_session(order)
    session = stripe_fake.complete_session(payment.stripe_checkout_session_id)
    intent = stripe_fake.intents[session["payment_intent"]]
    events = [
        stripe_event("checkout.session.completed", session),
        stripe_event("payment_intent.succeeded", intent),
    ]
    responses = race([lambda e=e: deliver(e) for e in events])
    assert [r.status_code for r in responses] == [200, 200]
    assert status(order) == S.PAID
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert payment.refund_requested_at is None
    assert stock(variant) == 9


@pytest.mark.parametrize("round_", range(4))
def test_the_expiry_task_racing_the_payment(stripe_fake, variant, round_):
    """The buyer paid at the last second: the expiry task and Stripe's webhook
    arrive together. Whoever wins, the order is paid once and keeps its stock."""
    order = guest_checkout(guest_cart((variant, 3)))
    payment = open_session(order)
    session = stripe_fake.complete_session(payment.stripe_checkout_session_id)
    Order.objects.filter(pk=order.pk).update(
        reserved_until=timezone.now() - timedelta(seconds=1)
    )
    event = stripe_event("checkout.session.completed", session)

    expired, response = race([services.orders_expire, lambda: deliver(event)])
    assert expired == []
    assert response.status_code == 200
    assert status(order) == S.PAID
    assert stock(variant) == 7
    payment.refresh_from_db()
    assert (payment.status, payment.settles_order) == (PaymentStatus.SUCCEEDED, True)
    assert payment.refund_requested_at is None
    assert ledger() == [("checkout.session.completed", "PROCESSED")]


def test_a_double_clicked_pay_button_makes_one_session(stripe_fake, variant):
    order = guest_checkout(guest_cart((variant, 1)))
    payments = race([lambda: open_session(order) for _ in range(5)])
    assert all(isinstance(p, Payment) for p in payments), payments
    assert len({p.stripe_checkout_session_id for p in payments}) == 1
    assert len(stripe_fake.sessions) == 1
    assert Payment.objects.count() == 1
