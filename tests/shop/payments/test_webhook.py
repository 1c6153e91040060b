"""POST /webhooks/stripe/: signed deliveries of every handled event type, and the
deliveries that must be refused without recording anything."""

import json
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from shop.orders.models import Order, OrderStatus
from shop.payments import services
from shop.payments.models import Payment, PaymentStatus, StripeEvent
from tests.factories import make_product
from tests.orders_helpers import guest_cart, guest_checkout
from tests.payments_helpers import (
    deliver,
    deliver_ok,
    ledger,
    open_session,
    post_webhook,
    session_completed,
    stock,
)
from tests.stripe_fake import charge_refunded, signature_for, stripe_event

pytestmark = pytest.mark.django_db

S = OrderStatus
P = PaymentStatus


@pytest.fixture
def variant(db):
    return make_product(
        variants=[{"price": "25.00", "quantity_available": 10}]
    ).variants.get()


@pytest.fixture
def order(variant):
    return guest_checkout(guest_cart((variant, 2)), email="ada@example.com")


@pytest.fixture
def session_payment(stripe_fake, order):
    return open_session(order)


@pytest.fixture
def intent_payment(stripe_fake, order):
    return services.payment_intent_create(order=order)


def status(order) -> str:
    return Order.objects.get(pk=order.pk).status


def fresh(payment) -> Payment:
    return Payment.objects.get(pk=payment.pk)


# ---------------------------------------------------------------- refused deliveries


def test_a_valid_delivery_is_acknowledged(stripe_fake, session_payment):
    event = session_completed(stripe_fake, session_payment)
    body = deliver_ok(event)
    assert body == {
        "received": True,
        "id": event["id"],
        "duplicate": False,
        "outcome": "PROCESSED",
    }


@pytest.mark.parametrize(
    "case",
    [
        "no signature",
        "wrong secret",
        "tampered body",
        "old timestamp",
        "future timestamp",
        "garbage header",
    ],
)
def test_unverified_deliveries_are_400_and_change_nothing(
    stripe_fake, session_payment, order, settings, case
):
    payload = json.dumps(session_completed(stripe_fake, session_payment))
    secret = settings.STRIPE_WEBHOOK_SECRET
    signature = {
        "no signature": None,
        "wrong secret": signature_for(payload, "whsec_someone_else"),
        "tampered body": signature_for(payload.replace("paid", "PAID"), secret),
        "old timestamp": signature_for(payload, secret, int(time.time()) - 301),
        "future timestamp": signature_for(payload, secret, int(time.time()) + 1000),
        "garbage header": "v1=deadbeef",
    }[case]
    response = post_webhook(payload, signature)
    assert response.status_code == 400
    assert "Stripe-Signature refused" in response.json()["error"]
    assert not StripeEvent.objects.exists()
    assert status(order) == S.PENDING_PAYMENT
    assert fresh(session_payment).status == P.OPEN


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"{not json", "The body is not JSON."),
        (b'["an", "array"]', "Not a Stripe event"),
        (b'{"id": "evt_1", "type": "x", "data": {}}', "Not a Stripe event"),
        (b"\xff\xfe", "The body is not UTF-8."),
    ],
)
def test_signed_bodies_that_are_not_events_are_400(settings, body, error):
    text = body.decode("latin-1")
    signature = signature_for(text, settings.STRIPE_WEBHOOK_SECRET)
    if body == b"\xff\xfe":
        signature = "t=1,v1=00"
    response = post_webhook(body, signature)
    assert response.status_code == 400
    assert error in response.json()["error"]
    assert not StripeEvent.objects.exists()


def test_only_post(client):
    assert client.get("/webhooks/stripe/").status_code == 405


def test_without_a_webhook_secret_nothing_is_processed(
    stripe_fake, session_payment, order, settings
):
    event = session_completed(stripe_fake, session_payment)
    payload = json.dumps(event)
    signature = signature_for(payload, settings.STRIPE_WEBHOOK_SECRET)
    settings.STRIPE_WEBHOOK_SECRET = ""
    response = post_webhook(payload, signature)
    assert response.status_code == 503
    assert "STRIPE_WEBHOOK_SECRET" in response.json()["error"]
    assert not StripeEvent.objects.exists()
    assert status(order) == S.PENDING_PAYMENT


# ---------------------------------------------------------------- Checkout Sessions


def test_session_completed_and_paid(stripe_fake, session_payment, order, variant):
    event = session_completed(stripe_fake, session_payment)
    deliver_ok(event)

    payment = fresh(session_payment)
    assert payment.status == P.SUCCEEDED
    assert payment.settles_order
    assert payment.amount_received == 5000
    assert payment.stripe_payment_intent_id == event["data"]["object"]["payment_intent"]
    assert not payment.needs_attention
    assert status(order) == S.PAID
    assert stock(variant) == 8
    [record] = StripeEvent.objects.all()
    assert (record.stripe_id, record.type, record.outcome) == (
        event["id"],
        "checkout.session.completed",
        "PROCESSED",
    )
    assert (record.order_id, record.payment_id) == (order.pk, payment.pk)
    assert record.object_id == session_payment.stripe_checkout_session_id
    assert record.payload == event
    assert record.note == f"Order {order.number} paid."


def test_a_replayed_event_is_not_processed_again(stripe_fake, session_payment, order):
    event = session_completed(stripe_fake, session_payment)
    deliver_ok(event)
    Order.objects.filter(pk=order.pk).update(status=S.FULFILLED)  # staff moved on
    again = deliver_ok(event)
    assert again["duplicate"] is True
    assert status(order) == S.FULFILLED
    assert StripeEvent.objects.count() == 1


def test_delayed_payment_then_success(stripe_fake, session_payment, order, variant):
    session = stripe_fake.complete_session(
        session_payment.stripe_checkout_session_id, "unpaid"
    )
    deliver_ok(stripe_event("checkout.session.completed", session))
    assert fresh(session_payment).status == P.PROCESSING
    assert status(order) == S.PENDING_PAYMENT

    paid = {**session, "payment_status": "paid"}
    deliver_ok(stripe_event("checkout.session.async_payment_succeeded", paid))
    assert fresh(session_payment).status == P.SUCCEEDED
    assert status(order) == S.PAID
    assert stock(variant) == 8
    assert ledger() == [
        ("checkout.session.completed", "PROCESSED"),
        ("checkout.session.async_payment_succeeded", "PROCESSED"),
    ]


def test_delayed_payment_that_fails(stripe_fake, session_payment, order, variant):
    session = stripe_fake.complete_session(
        session_payment.stripe_checkout_session_id, "unpaid"
    )
    deliver_ok(stripe_event("checkout.session.completed", session))
    deliver_ok(stripe_event("checkout.session.async_payment_failed", session))
    payment = fresh(session_payment)
    assert payment.status == P.FAILED
    assert payment.failure_message == "The delayed payment failed."
    assert status(order) == S.CANCELED
    assert stock(variant) == 10


def test_session_expired_cancels_the_order(
    stripe_fake, session_payment, order, variant
):
    session = {
        **stripe_fake.public(
            stripe_fake.sessions[session_payment.stripe_checkout_session_id]
        ),
        "status": "expired",
    }
    deliver_ok(stripe_event("checkout.session.expired", session))
    assert fresh(session_payment).status == P.EXPIRED
    assert status(order) == S.CANCELED
    assert stock(variant) == 10
    [record] = StripeEvent.objects.all()
    assert record.note.endswith("canceled; its stock is back.")


def test_session_expired_keeps_an_order_with_another_live_payment(
    stripe_fake, session_payment, order, variant
):
    services.payment_intent_create(order=order)
    session = stripe_fake.public(
        stripe_fake.sessions[session_payment.stripe_checkout_session_id]
    )
    deliver_ok(stripe_event("checkout.session.expired", session))
    assert fresh(session_payment).status == P.EXPIRED
    assert status(order) == S.PENDING_PAYMENT
    assert stock(variant) == 8


# ---------------------------------------------------------------- PaymentIntents


def test_payment_intent_succeeded(stripe_fake, intent_payment, order, variant):
    intent = stripe_fake.succeed_intent(intent_payment.stripe_payment_intent_id)
    deliver_ok(stripe_event("payment_intent.succeeded", intent))
    payment = fresh(intent_payment)
    assert (payment.status, payment.amount_received) == (P.SUCCEEDED, 5000)
    assert status(order) == S.PAID
    assert stock(variant) == 8


def test_a_failed_attempt_leaves_the_intent_open(stripe_fake, intent_payment, order):
    intent = {
        **stripe_fake.intents[intent_payment.stripe_payment_intent_id],
        "status": "requires_payment_method",
        "last_payment_error": {"code": "card_declined", "message": "Card declined."},
    }
    deliver_ok(stripe_event("payment_intent.payment_failed", intent))
    payment = fresh(intent_payment)
    assert (payment.status, payment.failure_message) == (P.OPEN, "Card declined.")
    assert status(order) == S.PENDING_PAYMENT
    # the buyer tries another card on the same intent
    assert services.payment_intent_create(order=order).pk == payment.pk
    intent = stripe_fake.succeed_intent(payment.stripe_payment_intent_id)
    deliver_ok(stripe_event("payment_intent.succeeded", intent))
    assert status(order) == S.PAID


def test_intent_processing_and_canceled(stripe_fake, intent_payment, order):
    intent = stripe_fake.intents[intent_payment.stripe_payment_intent_id]
    deliver_ok(
        stripe_event("payment_intent.processing", {**intent, "status": "processing"})
    )
    assert fresh(intent_payment).status == P.PROCESSING
    deliver_ok(
        stripe_event("payment_intent.canceled", {**intent, "status": "canceled"})
    )
    assert fresh(intent_payment).status == P.CANCELED
    assert status(order) == S.PENDING_PAYMENT  # the reservation decides


def test_the_session_and_its_intent_both_report_one_payment(
    stripe_fake, session_payment, order, variant
):
    """A Checkout Session's PaymentIntent sends payment_intent.succeeded too, here
    before checkout.session.completed: the order is paid once."""
    session = stripe_fake.complete_session(session_payment.stripe_checkout_session_id)
    intent = stripe_fake.intents[session["payment_intent"]]
    deliver_ok(stripe_event("payment_intent.succeeded", intent))
    assert status(order) == S.PAID
    deliver_ok(stripe_event("checkout.session.completed", session))
    assert ledger() == [
        ("payment_intent.succeeded", "PROCESSED"),
        ("checkout.session.completed", "PROCESSED"),
    ]
    assert StripeEvent.objects.latest("id").note.startswith("Payment already recorded")
    payment = fresh(session_payment)
    assert (payment.status, payment.amount_received) == (P.SUCCEEDED, 5000)
    assert stock(variant) == 8


# ---------------------------------------------------------------- refunds


def paid_by_intent(fake, payment) -> dict:
    intent = fake.succeed_intent(payment.stripe_payment_intent_id)
    deliver_ok(stripe_event("payment_intent.succeeded", intent))
    return intent


def test_a_full_refund_refunds_the_order(stripe_fake, intent_payment, order, variant):
    intent = paid_by_intent(stripe_fake, intent_payment)
    refund = stripe_fake.refund_intent(intent["id"])
    deliver_ok(
        stripe_event("charge.refunded", charge_refunded(intent, refunds=[refund]))
    )
    payment = fresh(intent_payment)
    assert (payment.status, payment.amount_refunded) == (P.REFUNDED, 5000)
    assert status(order) == S.REFUNDED
    assert stock(variant) == 8  # refunds do not restock: staff decide


def test_a_charge_refunded_that_lists_no_refunds_asks_stripe(
    stripe_fake, intent_payment, order, django_capture_on_commit_callbacks
):
    """Newer API versions send charge.refunded without its refunds: their state is
    fetched from Stripe (a task), never assumed."""
    intent = paid_by_intent(stripe_fake, intent_payment)
    stripe_fake.refund_intent(intent["id"], status="pending")
    with django_capture_on_commit_callbacks() as callbacks:
        deliver_ok(stripe_event("charge.refunded", charge_refunded(intent)))
    assert len(callbacks) == 1  # the sync task, enqueued on commit
    assert fresh(intent_payment).amount_refunded == 0
    assert services.payment_refunds_sync(payment_id=intent_payment.pk) == 1
    payment = fresh(intent_payment)
    assert (payment.status, payment.amount_refunded) == (P.SUCCEEDED, 0)
    assert payment.amount_refund_pending == 5000
    assert status(order) == S.PAID


def test_a_partial_refund_is_recorded_only(stripe_fake, intent_payment, order):
    intent = paid_by_intent(stripe_fake, intent_payment)
    first = stripe_fake.refund_intent(intent["id"], amount=1500)
    deliver_ok(stripe_event("refund.created", first))
    payment = fresh(intent_payment)
    assert (payment.status, payment.amount_refunded) == (P.SUCCEEDED, 1500)
    assert status(order) == S.PAID
    assert "Partial refund: 1500 of 5000 usd" in StripeEvent.objects.latest("id").note
    # the rest, later: the order is refunded once both have succeeded
    rest = stripe_fake.refund_intent(intent["id"], amount=3500)
    deliver_ok(stripe_event("refund.created", rest))
    assert fresh(intent_payment).status == P.REFUNDED
    assert status(order) == S.REFUNDED


def test_a_refund_reported_before_its_payment(stripe_fake, intent_payment, order):
    intent = stripe_fake.succeed_intent(intent_payment.stripe_payment_intent_id)
    refund = stripe_fake.refund_intent(intent["id"])
    deliver_ok(stripe_event("refund.created", refund))
    assert status(order) == S.PENDING_PAYMENT
    assert fresh(intent_payment).amount_refunded == 5000
    deliver_ok(stripe_event("payment_intent.succeeded", intent))
    payment = fresh(intent_payment)
    assert (payment.status, payment.amount_received) == (P.REFUNDED, 5000)
    assert status(order) == S.REFUNDED


def test_a_refund_of_a_session_payment_found_by_its_metadata(
    stripe_fake, session_payment, order
):
    """The charge names the PaymentIntent Stripe made for the session; before the
    session's completion reached us, only the metadata copied to the charge
    tells whose it is."""
    session = stripe_fake.complete_session(session_payment.stripe_checkout_session_id)
    intent = stripe_fake.intents[session["payment_intent"]]
    refund = stripe_fake.refund_intent(intent["id"])
    deliver_ok(
        stripe_event("charge.refunded", charge_refunded(intent, refunds=[refund]))
    )
    assert fresh(session_payment).amount_refunded == 5000
    deliver_ok(stripe_event("checkout.session.completed", session))
    assert fresh(session_payment).status == P.REFUNDED
    assert status(order) == S.REFUNDED


# ---------------------------------------------------------- money that does not fit


@pytest.mark.parametrize(
    "change", [{"amount_total": 4999}, {"currency": "eur"}, {"amount_total": 0}]
)
def test_an_amount_mismatch_never_pays_the_order(
    stripe_fake, session_payment, order, variant, change
):
    event = session_completed(stripe_fake, session_payment, **change)
    body = deliver_ok(event)
    assert body["outcome"] == "FLAGGED"
    payment = fresh(session_payment)
    assert payment.needs_attention
    assert "Amount mismatch" in payment.attention_note
    assert not payment.settles_order
    assert status(order) == S.PENDING_PAYMENT
    assert stock(variant) == 8
    assert StripeEvent.objects.get().outcome == "FLAGGED"


def test_a_second_payment_for_a_paid_order_is_refunded(
    stripe_fake, session_payment, intent_payment, order, variant
):
    deliver_ok(session_completed(stripe_fake, session_payment))
    assert status(order) == S.PAID
    intent = stripe_fake.succeed_intent(intent_payment.stripe_payment_intent_id)
    body = deliver_ok(stripe_event("payment_intent.succeeded", intent))
    assert body["outcome"] == "FLAGGED"
    second = fresh(intent_payment)
    assert second.refund_requested_at is not None
    assert second.needs_attention
    assert not second.settles_order
    assert services.payment_refund(payment_id=second.pk) is True
    [refund] = stripe_fake.creates("/v1/refunds")
    assert refund.params["payment_intent"] == intent["id"]
    assert refund.idempotency_key == f"{second.idempotency_key}-refund"
    assert fresh(intent_payment).status == P.REFUNDED
    assert status(order) == S.PAID  # the first payment still pays it
    # Stripe then reports the refund: nothing more changes
    [refund] = stripe_fake.refunds.values()
    deliver_ok(
        stripe_event("charge.refunded", charge_refunded(intent, refunds=[refund]))
    )
    assert status(order) == S.PAID
    assert stock(variant) == 8


# ---------------------------------------------------------------- other events


def test_unknown_types_are_recorded_and_acknowledged(order):
    event = stripe_event("customer.created", {"id": "cus_1", "object": "customer"})
    body = deliver_ok(event)
    assert body["outcome"] == "IGNORED"
    assert ledger() == [("customer.created", "IGNORED")]
    assert StripeEvent.objects.get().payload == event


def test_events_of_someone_elses_payments(order):
    session = {
        "id": "cs_test_elsewhere",
        "object": "checkout.session",
        "status": "complete",
        "payment_status": "paid",
        "amount_total": 5000,
        "currency": "usd",
        "metadata": {},
        "payment_intent": "pi_test_elsewhere",
    }
    assert (
        deliver_ok(stripe_event("checkout.session.completed", session))["outcome"]
        == "UNMATCHED"
    )
    assert status(order) == S.PENDING_PAYMENT
    assert not Payment.objects.exists()


def test_a_payment_made_outside_the_shop_for_its_order(order, variant):
    """A PaymentIntent made in Stripe's dashboard, naming our order in its
    metadata (id and number): recorded, applied, flagged."""
    intent = {
        "id": "pi_test_dashboard",
        "object": "payment_intent",
        "status": "succeeded",
        "amount": 5000,
        "amount_received": 5000,
        "currency": "usd",
        "metadata": {"order_id": str(order.pk), "order_number": order.number},
    }
    deliver_ok(stripe_event("payment_intent.succeeded", intent))
    payment = Payment.objects.get()
    assert (payment.stripe_payment_intent_id, payment.status) == (
        "pi_test_dashboard",
        P.SUCCEEDED,
    )
    assert payment.needs_attention
    assert status(order) == S.PAID
    # a wrong number is not ours
    other = guest_checkout(guest_cart((variant, 1)))
    forged = {
        **intent,
        "id": "pi_test_other",
        "metadata": {"order_id": str(other.pk), "order_number": "NOPE-NOPE"},
    }
    assert (
        deliver_ok(stripe_event("payment_intent.succeeded", forged))["outcome"]
        == "UNMATCHED"
    )
    assert status(other) == S.PENDING_PAYMENT


def test_a_crash_mid_processing_leaves_the_event_for_stripes_retry(
    stripe_fake, session_payment, order, variant, monkeypatch
):
    event = session_completed(stripe_fake, session_payment)

    def crash(**kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(services, "order_transition", crash)
    response = deliver(event)
    assert response.status_code == 500
    assert not StripeEvent.objects.exists()
    assert fresh(session_payment).status == P.OPEN
    assert status(order) == S.PENDING_PAYMENT

    monkeypatch.undo()
    assert deliver_ok(event)["duplicate"] is False
    assert status(order) == S.PAID
    assert stock(variant) == 8


# ---------------------------------------------------------------- late payments


def expired_by_the_task(order) -> None:
    Order.objects.filter(pk=order.pk).update(
        reserved_until=timezone.now() - timedelta(minutes=1)
    )
    assert services.orders_expire() == [order.pk]


def test_a_payment_after_expiry_with_stock_left(
    stripe_fake, session_payment, order, variant
):
    expired_by_the_task(order)
    assert stock(variant) == 10
    # Stripe reports a payment the buyer completed just before the session closed
    body = deliver_ok(session_completed(stripe_fake, session_payment))
    assert body["outcome"] == "FLAGGED"
    assert status(order) == S.PAID
    assert stock(variant) == 8
    payment = fresh(session_payment)
    assert payment.settles_order
    assert payment.refund_requested_at is None
    assert "stock was reserved again" in payment.attention_note
    assert ledger() == [("checkout.session.completed", "FLAGGED")]


def test_a_payment_after_expiry_without_stock(
    stripe_fake, session_payment, order, variant
):
    expired_by_the_task(order)
    guest_checkout(guest_cart((variant, 9)))  # the stock went to someone else
    deliver_ok(session_completed(stripe_fake, session_payment))
    assert status(order) == S.CANCELED
    assert stock(variant) == 1
    payment = fresh(session_payment)
    assert payment.refund_requested_at is not None
    assert not payment.settles_order

    assert services.payment_refund(payment_id=payment.pk) is True  # the task's work
    assert status(order) == S.REFUNDED
    assert fresh(session_payment).status == P.REFUNDED
    assert stock(variant) == 1
    assert len(stripe_fake.refunds) == 1
