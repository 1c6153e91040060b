"""Refunds the shop decides (a payment for an order it can no longer fill)."""

import pytest
import stripe

from shop.orders.models import CancelReason, Order, OrderStatus
from shop.orders.services import order_transition
from shop.payments.models import Payment, PaymentStatus, Refund
from shop.payments.services import payment_refund
from tests.factories import make_product
from tests.orders_helpers import guest_cart, guest_checkout
from tests.payments_helpers import deliver_ok, open_session, session_completed

pytestmark = pytest.mark.django_db


@pytest.fixture
def to_refund(stripe_fake) -> Payment:
    """A payment that arrived after its order was canceled and its stock sold."""
    variant = make_product(variants=[{"quantity_available": 1}]).variants.get()
    order = guest_checkout(guest_cart((variant, 1)))
    payment = open_session(order)
    order_transition(
        order_id=order.pk,
        to_status=OrderStatus.CANCELED,
        cancel_reason=CancelReason.UNPAID,
    )
    guest_checkout(guest_cart((variant, 1)))
    deliver_ok(session_completed(stripe_fake, payment))
    payment.refresh_from_db()
    assert payment.refund_requested_at is not None
    return payment


def test_stripe_refusing_the_refund_is_flagged(stripe_fake, to_refund):
    stripe_fake.fail_next(
        400, "invalid_request_error", "The charge is disputed.", "charge_disputed"
    )
    assert payment_refund(payment_id=to_refund.pk) is False
    payment = Payment.objects.get(pk=to_refund.pk)
    assert payment.status == PaymentStatus.SUCCEEDED
    assert "Refund refused by Stripe: Stripe: The charge is disputed." in (
        payment.attention_note
    )
    assert Order.objects.get(pk=payment.order_id).status == OrderStatus.CANCELED


def test_a_transient_error_is_raised_for_the_tasks_retry(
    stripe_fake, to_refund, settings
):
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    stripe_fake.fail_next(500, "api_error", "Something went wrong on Stripe's end.")
    with pytest.raises(stripe.APIError):
        payment_refund(payment_id=to_refund.pk)
    assert Payment.objects.get(pk=to_refund.pk).status == PaymentStatus.SUCCEEDED
    # the retry goes through, with the same idempotency key
    assert payment_refund(payment_id=to_refund.pk) is True
    first, retry = stripe_fake.creates("/v1/refunds")
    assert first.idempotency_key == retry.idempotency_key
    assert Order.objects.get(pk=to_refund.order_id).status == OrderStatus.REFUNDED


def test_a_refund_made_at_stripe_already_is_recorded_as_stripe_has_it(
    stripe_fake, to_refund
):
    """Staff refunded it from Stripe's dashboard first: Stripe answers
    charge_already_refunded, and the shop records that refund as Stripe has it."""
    done = stripe_fake.refund_intent(to_refund.stripe_payment_intent_id)
    assert payment_refund(payment_id=to_refund.pk) is True
    [refund] = Refund.objects.filter(payment=to_refund)
    assert (refund.stripe_refund_id, refund.status) == (done["id"], "SUCCEEDED")
    assert Payment.objects.get(pk=to_refund.pk).status == PaymentStatus.REFUNDED
    assert Order.objects.get(pk=to_refund.order_id).status == OrderStatus.REFUNDED


def test_a_pending_refund_at_stripe_is_not_recorded_as_done(stripe_fake, to_refund):
    stripe_fake.refund_intent(to_refund.stripe_payment_intent_id, status="pending")
    assert payment_refund(payment_id=to_refund.pk) is True
    payment = Payment.objects.get(pk=to_refund.pk)
    assert (payment.status, payment.amount_refunded) == (PaymentStatus.SUCCEEDED, 0)
    assert payment.amount_refund_pending == payment.amount_received
    assert Order.objects.get(pk=to_refund.order_id).status == OrderStatus.CANCELED


def test_only_payments_the_shop_decided_to_refund(stripe_fake):
    variant = make_product(variants=[{"quantity_available": 3}]).variants.get()
    payment = open_session(guest_checkout(guest_cart((variant, 1))))
    deliver_ok(session_completed(stripe_fake, payment))
    assert payment_refund(payment_id=payment.pk) is False
    assert stripe_fake.creates("/v1/refunds") == []
