"""Money that comes late or goes back slowly, driven by signed webhook events:
a payment after the buyer (or staff) canceled, the other open payments of an order
just paid, and refunds Stripe only accepted or could not complete."""

import logging

import pytest
from django.core import mail
from django.urls import reverse
from strawberry.relay import to_base64

from shop.orders.models import CancelReason, Order, OrderStatus
from shop.orders.notifications import EmailOutcome, order_email_send
from shop.orders.services import checkout_complete
from shop.payments import services
from shop.payments.models import Payment, PaymentStatus, Refund, StripeEvent
from tests.factories import UserFactory, make_product
from tests.orders_helpers import ADDRESS, user_cart
from tests.payments_helpers import deliver_ok, open_session, session_completed, stock
from tests.stripe_fake import stripe_event
from workers import app

pytestmark = pytest.mark.django_db

S = OrderStatus
P = PaymentStatus
CANCEL = """mutation($id: ID!) { orderCancel(id: $id) {
  order { status cancelReason } errors { field code message } } }"""


@pytest.fixture
def variant(db):
    return make_product(
        variants=[{"price": "25.00", "quantity_available": 10}]
    ).variants.get()


@pytest.fixture
def buyer(db):
    return UserFactory(email="ada@example.com")


@pytest.fixture
def order(buyer, variant):
    user_cart(buyer, (variant, 2))
    return checkout_complete(
        user=buyer, cart_token=None, email=buyer.email, address=ADDRESS
    )


@pytest.fixture
def eager_tasks():
    """Tasks enqueued on commit run at once, in this process."""
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


def fresh(obj):
    return type(obj).objects.get(pk=obj.pk)


def debit_on_its_way(fake, payment) -> dict:
    """The buyer pays the hosted page by bank debit: Stripe says it is processing;
    returns the session."""
    session = fake.complete_session(
        payment.stripe_checkout_session_id, payment_status="unpaid"
    )
    deliver_ok(stripe_event("checkout.session.completed", session))
    assert fresh(payment).status == P.PROCESSING
    return session


def debit_settles(fake, session: dict) -> dict:
    """The bank debit settles: checkout.session.async_payment_succeeded."""
    fake.succeed_intent(session["payment_intent"])
    paid = {**session, "payment_status": "paid"}
    return stripe_event("checkout.session.async_payment_succeeded", paid)


def refund_email(order) -> str:
    mail.outbox.clear()
    assert order_email_send(order_id=order.pk, kind="refund") == EmailOutcome.SENT
    [message] = mail.outbox
    return message.body


# ------------------------------------------------- a cancellation is a decision


def test_money_after_the_buyer_canceled_is_refunded_not_revived(
    stripe_fake, gql, buyer, order, variant
):
    payment = open_session(order)
    session = debit_on_its_way(stripe_fake, payment)
    gql.login(buyer)
    canceled = gql.ok(CANCEL, {"id": to_base64("Order", order.pk)})["orderCancel"]
    assert canceled == {
        "order": {"status": "CANCELED", "cancelReason": "BUYER"},
        "errors": [],
    }
    assert stock(variant) == 10

    mail.outbox.clear()
    assert order_email_send(order_id=order.pk, kind="cancellation") == "sent"
    assert "already on its way: we will refund it in full" in mail.outbox[0].body

    # the debit settles after all
    event = debit_settles(stripe_fake, session)
    assert deliver_ok(event)["outcome"] == "FLAGGED"
    assert fresh(order).status == S.CANCELED
    assert stock(variant) == 10  # nothing taken again, nothing shipped
    payment = fresh(payment)
    assert payment.status == P.SUCCEEDED
    assert not payment.settles_order
    assert payment.refund_requested_at is not None
    assert payment.needs_attention
    assert "canceled by its buyer: that cancellation is final" in (
        payment.attention_note
    )
    # Stripe delivers the same event again: nothing more happens
    assert deliver_ok(event)["duplicate"] is True

    # the refund task, run twice, refunds once
    assert services.payment_refund(payment_id=payment.pk) is True
    assert services.payment_refund(payment_id=payment.pk) is False
    [call] = stripe_fake.creates("/v1/refunds")
    assert call.params["payment_intent"] == payment.stripe_payment_intent_id
    assert (fresh(payment).status, fresh(payment).amount_refunded) == (P.REFUNDED, 5000)
    assert fresh(order).status == S.REFUNDED
    assert stock(variant) == 10
    assert "after you had canceled the order, so we gave it back" in (
        refund_email(order)
    )


def test_money_after_staff_canceled_is_refunded_not_revived(
    stripe_fake, admin_client, order, variant
):
    payment = open_session(order)
    event = session_completed(stripe_fake, payment)  # paid in a tab left open
    response = admin_client.post(
        reverse("admin:orders_order_changelist"),
        {"action": "mark_canceled", "_selected_action": [order.pk]},
    )
    assert response.status_code == 302
    assert (fresh(order).status, fresh(order).cancel_reason) == (S.CANCELED, "STAFF")

    assert deliver_ok(event)["outcome"] == "FLAGGED"
    assert fresh(order).status == S.CANCELED
    assert stock(variant) == 10
    assert "canceled by staff" in fresh(payment).attention_note
    assert services.payment_refund(payment_id=payment.pk) is True
    assert fresh(order).status == S.REFUNDED
    assert "after we had canceled the order, so we gave it back" in (
        refund_email(order)
    )


def test_money_after_an_expiry_still_fills_the_order(stripe_fake, order, variant):
    """The shop canceled it for want of payment: the buyer still wants it."""
    payment = open_session(order)
    session = debit_on_its_way(stripe_fake, payment)
    Order.objects.filter(pk=order.pk).update(reserved_until=order.created_at)
    Payment.objects.filter(pk=payment.pk).update(status=P.OPEN)  # not processing
    stripe_fake.sessions[session["id"]]["status"] = "expired"
    assert services.orders_expire() == [order.pk]
    assert fresh(order).cancel_reason == CancelReason.UNPAID
    assert stock(variant) == 10
    assert deliver_ok(debit_settles(stripe_fake, session))["outcome"] == "FLAGGED"
    assert fresh(order).status == S.PAID
    assert stock(variant) == 8
    assert fresh(payment).refund_requested_at is None


# ------------------------------------------------- one order, one charge


def test_paying_an_order_closes_its_other_open_payments(
    stripe_fake, order, eager_tasks, django_capture_on_commit_callbacks
):
    session_payment = open_session(order)
    intent_payment = services.payment_intent_create(order=order)
    with django_capture_on_commit_callbacks(execute=True):
        deliver_ok(session_completed(stripe_fake, session_payment))
    assert fresh(order).status == S.PAID
    intent_id = intent_payment.stripe_payment_intent_id
    closes = [c.path for c in stripe_fake.calls if c.method == "POST"]
    assert closes[-1] == f"/v1/payment_intents/{intent_id}/cancel"
    assert stripe_fake.intents[intent_id]["status"] == "canceled"
    assert fresh(intent_payment).status == P.CANCELED
    assert fresh(session_payment).status == P.SUCCEEDED
    assert fresh(order).status == S.PAID
    # run again (a retried task): nothing is open, nothing is asked of Stripe
    calls = len(stripe_fake.calls)
    assert services.order_payments_close(order_id=order.pk) == 0
    assert len(stripe_fake.calls) == calls


def test_paying_by_intent_expires_the_open_checkout_session(
    stripe_fake, order, eager_tasks, django_capture_on_commit_callbacks
):
    session_payment = open_session(order)
    intent_payment = services.payment_intent_create(order=order)
    intent = stripe_fake.succeed_intent(intent_payment.stripe_payment_intent_id)
    with django_capture_on_commit_callbacks(execute=True):
        deliver_ok(stripe_event("payment_intent.succeeded", intent))
    session_id = session_payment.stripe_checkout_session_id
    [expire] = [c for c in stripe_fake.calls if c.path.endswith("/expire")]
    assert expire.path == f"/v1/checkout/sessions/{session_id}/expire"
    assert stripe_fake.sessions[session_id]["status"] == "expired"
    assert fresh(session_payment).status == P.EXPIRED
    assert fresh(order).status == S.PAID


def test_a_payment_completed_while_being_closed_is_refunded(stripe_fake, order):
    """The buyer finished the other tab just before the shop closed it: Stripe
    refuses to expire a completed session, and its money goes back."""
    session_payment = open_session(order)
    intent_payment = services.payment_intent_create(order=order)
    deliver_ok(
        stripe_event(
            "payment_intent.succeeded",
            stripe_fake.succeed_intent(intent_payment.stripe_payment_intent_id),
        )
    )
    stripe_fake.complete_session(session_payment.stripe_checkout_session_id)
    assert services.order_payments_close(order_id=order.pk) == 1
    second = fresh(session_payment)
    assert (second.status, second.settles_order) == (P.SUCCEEDED, False)
    assert second.refund_requested_at is not None
    assert fresh(order).status == S.PAID


# ------------------------------------------------- a refund asked is not a refund


@pytest.fixture
def late_payment(stripe_fake, gql, buyer, order) -> Payment:
    """A payment that arrived after its buyer canceled: the shop refunds it."""
    payment = open_session(order)
    event = session_completed(stripe_fake, payment)
    gql.login(buyer)
    gql.ok(CANCEL, {"id": to_base64("Order", order.pk)})
    deliver_ok(event)
    return fresh(payment)


def test_a_pending_refund_is_not_money_given_back(stripe_fake, late_payment, order):
    stripe_fake.new_refund_status = "pending"
    assert services.payment_refund(payment_id=late_payment.pk) is True
    payment = fresh(late_payment)
    assert (payment.status, payment.amount_refunded) == (P.SUCCEEDED, 0)
    assert payment.amount_refund_pending == 5000
    assert fresh(order).status == S.CANCELED
    assert order_email_send(order_id=order.pk, kind="refund") == "no_longer_true"
    # then it settles
    [refund] = stripe_fake.refunds
    settled = stripe_fake.refund_becomes(refund, "succeeded")
    deliver_ok(stripe_event("charge.refund.updated", settled))
    payment = fresh(late_payment)
    assert (payment.status, payment.amount_refunded) == (P.REFUNDED, 5000)
    assert payment.amount_refund_pending == 0
    assert fresh(order).status == S.REFUNDED


@pytest.mark.parametrize("event_type", ["charge.refund.updated", "refund.failed"])
def test_a_refund_stripe_could_not_complete_is_flagged_and_claims_nothing(
    stripe_fake, late_payment, order, caplog, event_type
):
    stripe_fake.new_refund_status = "pending"
    services.payment_refund(payment_id=late_payment.pk)
    [refund_id] = stripe_fake.refunds
    failed = stripe_fake.refund_becomes(refund_id, "failed", "expired_or_canceled_card")
    with caplog.at_level(logging.ERROR, logger="shop.payments.services"):
        body = deliver_ok(stripe_event(event_type, failed))
    assert body["outcome"] == "FLAGGED"
    refund = Refund.objects.get(stripe_refund_id=refund_id)
    assert (refund.status, refund.failure_reason) == (
        "FAILED",
        "expired_or_canceled_card",
    )
    payment = fresh(late_payment)
    assert (payment.status, payment.amount_refunded) == (P.SUCCEEDED, 0)
    assert payment.amount_refund_pending == 0
    assert payment.needs_attention
    assert f"Refund {refund_id} of 5000 usd failed at Stripe" in payment.attention_note
    assert "did NOT go back" in payment.attention_note
    assert fresh(order).status == S.CANCELED  # never REFUNDED
    assert order_email_send(order_id=order.pk, kind="refund") == "no_longer_true"
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert refund_id in record.getMessage()
    assert "did NOT go back" in StripeEvent.objects.latest("id").note
    # a late report of the refund's earlier state changes nothing
    stale = {**failed, "status": "pending", "failure_reason": None}
    deliver_ok(stripe_event("refund.updated", stale))
    assert Refund.objects.get(stripe_refund_id=refund_id).status == "FAILED"
    assert fresh(late_payment).amount_refund_pending == 0


def test_a_refund_that_fails_after_succeeding_is_flagged(stripe_fake, order, caplog):
    """Some payment methods report a refund succeeded, then failed."""
    payment = services.payment_intent_create(order=order)
    intent = stripe_fake.succeed_intent(payment.stripe_payment_intent_id)
    deliver_ok(stripe_event("payment_intent.succeeded", intent))
    refund = stripe_fake.refund_intent(intent["id"])
    deliver_ok(stripe_event("refund.created", refund))
    assert fresh(payment).status == P.REFUNDED
    failed = stripe_fake.refund_becomes(refund["id"], "failed", "unknown")
    with caplog.at_level(logging.ERROR, logger="shop.payments.services"):
        assert deliver_ok(stripe_event("refund.failed", failed))["outcome"] == (
            "FLAGGED"
        )
    payment = fresh(payment)
    assert (payment.status, payment.amount_refunded) == (P.SUCCEEDED, 0)
    assert "only 0 of 5000 usd went back" in payment.attention_note
    assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 2
