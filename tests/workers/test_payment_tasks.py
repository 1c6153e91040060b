"""Payment emails, refunds and the closing of canceled orders' payments go
through a real Celery worker."""

import time

import pytest
from celery.contrib.testing.worker import start_worker
from django.core import mail
from django.db import transaction

from shop.orders.models import CancelReason, Order, OrderStatus
from shop.orders.services import order_transition
from shop.payments import services
from shop.payments.models import Payment, PaymentStatus
from tests.factories import make_product
from tests.orders_helpers import guest_cart, guest_checkout
from tests.payments_helpers import deliver_ok, open_session, session_completed, stock
from workers import app

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def worker():
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        yield


def wait_for(predicate, seconds: float = 15) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def subjects() -> list[str]:
    return [message.subject for message in mail.outbox]


@pytest.fixture
def variant(db):
    return make_product(
        name="Desk Lamp",
        variants=[{"name": "Brass", "price": "25.00", "quantity_available": 3}],
    ).variants.get()


def test_payment_received_email(worker, stripe_fake, variant):
    order = guest_checkout(guest_cart((variant, 2)), email="ada@example.com")
    deliver_ok(session_completed(stripe_fake, open_session(order)))
    expected = f"We received your payment for order {order.number}"
    assert wait_for(lambda: expected in subjects()), subjects()
    message = next(m for m in mail.outbox if m.subject == expected)
    assert message.to == ["ada@example.com"]
    assert "We received your payment of 50.00 USD" in message.body
    assert "2 x Desk Lamp (Brass)" in message.body
    assert "after we had canceled" not in message.body


def test_canceling_an_order_closes_its_open_session(worker, stripe_fake, variant):
    order = guest_checkout(guest_cart((variant, 2)))
    payment = open_session(order)
    order_transition(
        order_id=order.pk,
        to_status=OrderStatus.CANCELED,
        cancel_reason=CancelReason.UNPAID,
    )
    session = stripe_fake.sessions[payment.stripe_checkout_session_id]
    assert wait_for(lambda: session["status"] == "expired")
    assert wait_for(
        lambda: Payment.objects.get(pk=payment.pk).status == PaymentStatus.EXPIRED
    )
    assert Order.objects.get(pk=order.pk).status == OrderStatus.CANCELED


def test_paying_an_order_cancels_its_other_open_intent(worker, stripe_fake, variant):
    """Two tabs: the hosted page pays the order, the worker cancels the intent the
    other tab opened, so the buyer cannot pay twice."""
    order = guest_checkout(guest_cart((variant, 2)))
    session_payment = open_session(order)
    intent_payment = services.payment_intent_create(order=order)
    deliver_ok(session_completed(stripe_fake, session_payment))
    intent = stripe_fake.intents[intent_payment.stripe_payment_intent_id]
    assert wait_for(lambda: intent["status"] == "canceled")
    assert wait_for(
        lambda: (
            Payment.objects.get(pk=intent_payment.pk).status == PaymentStatus.CANCELED
        )
    )
    assert Order.objects.get(pk=order.pk).status == OrderStatus.PAID


def test_a_late_payment_with_stock_left_is_filled(worker, stripe_fake, variant):
    """The buyer pays on the hosted page just as the order is canceled: the
    webhook (or the task closing the session, whichever comes first) finds the
    stock still there and fills the order."""
    order = guest_checkout(guest_cart((variant, 2)), email="ada@example.com")
    payment = open_session(order)
    event = session_completed(stripe_fake, payment)
    order_transition(
        order_id=order.pk,
        to_status=OrderStatus.CANCELED,
        cancel_reason=CancelReason.UNPAID,
    )
    deliver_ok(event)
    assert Order.objects.get(pk=order.pk).status == OrderStatus.PAID
    assert stock(variant) == 1
    payment.refresh_from_db()
    assert payment.needs_attention
    assert "stock was reserved again" in payment.attention_note
    expected = f"We received your payment for order {order.number}"
    assert wait_for(lambda: expected in subjects()), subjects()
    message = next(m for m in mail.outbox if m.subject == expected)
    assert "after we had canceled the order" in message.body
    assert stripe_fake.creates("/v1/refunds") == []


def test_a_late_payment_without_stock_is_refunded(worker, stripe_fake, variant):
    buyer = guest_cart((variant, 3))  # filled while the stock is all there
    order = guest_checkout(guest_cart((variant, 2)), email="ada@example.com")
    payment = open_session(order)
    event = session_completed(stripe_fake, payment)
    with transaction.atomic():  # the tasks it enqueues start after both
        order_transition(
            order_id=order.pk,
            to_status=OrderStatus.CANCELED,
            cancel_reason=CancelReason.UNPAID,
        )
        guest_checkout(buyer)  # someone else buys all of it
    assert stock(variant) == 0

    deliver_ok(event)
    assert wait_for(
        lambda: Order.objects.get(pk=order.pk).status == OrderStatus.REFUNDED
    )
    [refund] = stripe_fake.creates("/v1/refunds")
    payment.refresh_from_db()
    assert refund.params == {
        "payment_intent": payment.stripe_payment_intent_id,
        "metadata": {
            "order_id": str(order.pk),
            "order_number": order.number,
            "payment_id": str(payment.pk),
        },
    }
    assert refund.idempotency_key == f"{payment.idempotency_key}-refund"
    assert payment.status == PaymentStatus.REFUNDED
    assert payment.amount_refunded == payment.amount_received == 5000
    assert payment.needs_attention
    assert "being refunded" in payment.attention_note
    assert stock(variant) == 0
    expected = f"Your payment for order {order.number} was refunded"
    assert wait_for(lambda: expected in subjects()), subjects()
    message = next(m for m in mail.outbox if m.subject == expected)
    assert message.to == ["ada@example.com"]
    assert "its items had been sold" in message.body


def test_a_refund_task_run_twice_refunds_once(stripe_fake, variant):
    from workers.tasks.payments import payment_refund_task

    order = guest_checkout(guest_cart((variant, 1)))
    payment = open_session(order)
    order_transition(
        order_id=order.pk,
        to_status=OrderStatus.CANCELED,
        cancel_reason=CancelReason.UNPAID,
    )
    guest_checkout(guest_cart((variant, 3)))
    deliver_ok(session_completed(stripe_fake, payment))  # no worker: task queued

    assert payment_refund_task(payment.pk) is True
    assert payment_refund_task(payment.pk) is False
    assert len(stripe_fake.refunds) == 1
    # even if the record were lost, Stripe's answer to the same key is the same
    Payment.objects.filter(pk=payment.pk).update(status=PaymentStatus.SUCCEEDED)
    assert payment_refund_task(payment.pk) is True
    assert len(stripe_fake.refunds) == 1
    assert len(stripe_fake.creates("/v1/refunds")) == 2
