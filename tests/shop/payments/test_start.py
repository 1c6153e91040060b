"""Starting a payment: the exact Checkout Session / PaymentIntent sent to Stripe (a
local fake HTTP server), idempotency, reservations, and every refusal."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from shop.orders.models import CancelReason, Order, OrderStatus
from shop.orders.services import order_transition
from shop.payments import services
from shop.payments.errors import ErrorCode, PaymentError
from shop.payments.models import Payment, PaymentKind, PaymentStatus
from tests.e2e.servers import free_port
from tests.factories import make_product
from tests.orders_helpers import guest_cart, guest_checkout
from tests.payments_helpers import CANCEL_URL, SUCCESS_URL, open_session

pytestmark = pytest.mark.django_db


@pytest.fixture
def order(db):
    lamp = make_product(
        name="Desk Lamp",
        variants=[{"name": "Brass", "sku": "LAMP-BR", "price": "19.99"}],
    ).variants.get()
    cable = make_product(
        name="Cable", variants=[{"name": "", "sku": "CBL-1", "price": "5.00"}]
    ).variants.get()
    return guest_checkout(guest_cart((lamp, 2), (cable, 1)), email="ada@example.com")


def refused(call) -> PaymentError:
    with pytest.raises(PaymentError) as caught:
        call()
    return caught.value


def near(timestamp: int, expected: float, seconds: int = 10) -> bool:
    return abs(timestamp - expected) <= seconds


# ---------------------------------------------------------------- Checkout Sessions


def test_the_session_sent_to_stripe_is_the_order(stripe_fake, order, settings):
    payment = open_session(order)

    [call] = stripe_fake.creates("/v1/checkout/sessions")
    metadata = {
        "order_id": str(order.pk),
        "order_number": order.number,
        "payment_id": str(payment.pk),
    }
    expires_at = call.params.pop("expires_at")
    assert call.params == {
        "mode": "payment",
        "line_items": [
            {
                "quantity": "2",
                "price_data": {
                    "currency": "usd",
                    "unit_amount": "1999",
                    "product_data": {
                        "name": "Desk Lamp (Brass)",
                        "metadata": {"sku": "LAMP-BR"},
                    },
                },
            },
            {
                "quantity": "1",
                "price_data": {
                    "currency": "usd",
                    "unit_amount": "500",
                    "product_data": {"name": "Cable", "metadata": {"sku": "CBL-1"}},
                },
            },
        ],
        "success_url": SUCCESS_URL,
        "cancel_url": CANCEL_URL,
        "client_reference_id": str(order.pk),
        "customer_email": "ada@example.com",
        "metadata": metadata,
        "payment_intent_data": {
            "metadata": metadata,
            "description": f"Order {order.number}",
        },
    }
    assert call.idempotency_key == payment.idempotency_key
    assert call.idempotency_key.startswith("shop-payment-")
    assert call.authorization == f"Bearer {settings.STRIPE_SECRET_KEY}"
    # A 30-minute reservation is shorter than Stripe's minimum: the session gets
    # 35 minutes and the reservation follows it.
    assert near(int(expires_at), time.time() + 35 * 60)
    order.refresh_from_db()
    assert order.reserved_until == payment.expires_at
    assert int(payment.expires_at.timestamp()) == int(expires_at)

    [session] = stripe_fake.sessions.values()
    assert session["amount_total"] == 4498
    assert payment.status == PaymentStatus.OPEN
    assert payment.kind == PaymentKind.CHECKOUT_SESSION
    assert (payment.amount, payment.currency) == (4498, "usd")
    assert payment.stripe_checkout_session_id == session["id"]
    assert payment.checkout_url == session["url"]


def test_a_long_reservation_is_the_sessions_expiry(stripe_fake, order):
    later = (timezone.now() + timedelta(hours=3)).replace(microsecond=0)
    Order.objects.filter(pk=order.pk).update(reserved_until=later)
    payment = open_session(order)
    [call] = stripe_fake.creates("/v1/checkout/sessions")
    assert int(call.params["expires_at"]) == int(later.timestamp())
    assert Order.objects.get(pk=order.pk).reserved_until == later == payment.expires_at


def test_stripe_allows_at_most_24_hours(stripe_fake, order):
    much_later = timezone.now() + timedelta(days=3)
    Order.objects.filter(pk=order.pk).update(reserved_until=much_later)
    open_session(order)
    [call] = stripe_fake.creates("/v1/checkout/sessions")
    assert near(int(call.params["expires_at"]), time.time() + 23 * 3600 + 55 * 60)
    # the reservation is already longer than the session: it stays
    assert Order.objects.get(pk=order.pk).reserved_until == much_later


def test_asking_again_returns_the_open_session(stripe_fake, order):
    first = open_session(order)
    again = services.payment_checkout_session_create(
        order=order, success_url="https://other.example/ok", cancel_url=CANCEL_URL
    )
    assert again.pk == first.pk
    assert again.checkout_url == first.checkout_url
    assert len(stripe_fake.creates("/v1/checkout/sessions")) == 1
    assert Payment.objects.count() == 1


def test_a_session_about_to_expire_is_replaced(stripe_fake, order):
    first = open_session(order)
    Payment.objects.filter(pk=first.pk).update(
        expires_at=timezone.now() + timedelta(minutes=2)
    )
    second = open_session(order)
    assert second.pk != first.pk
    assert second.idempotency_key != first.idempotency_key
    assert Payment.objects.get(pk=first.pk).status == PaymentStatus.EXPIRED
    assert len(stripe_fake.sessions) == 2


# ---------------------------------------------------------------- PaymentIntents


def test_the_payment_intent_sent_to_stripe(stripe_fake, order):
    payment = services.payment_intent_create(order=order)

    [call] = stripe_fake.creates("/v1/payment_intents")
    assert call.params == {
        "amount": "4498",
        "currency": "usd",
        "automatic_payment_methods": {"enabled": "true"},
        "description": f"Order {order.number}",
        "receipt_email": "ada@example.com",
        "metadata": {
            "order_id": str(order.pk),
            "order_number": order.number,
            "payment_id": str(payment.pk),
        },
    }
    assert call.idempotency_key == payment.idempotency_key
    [intent] = stripe_fake.intents.values()
    assert payment.stripe_payment_intent_id == intent["id"]
    assert payment.client_secret == intent["client_secret"]
    assert payment.status == PaymentStatus.OPEN
    # an intent has no expiry of its own: the reservation is not extended
    assert Order.objects.get(pk=order.pk).reserved_until == order.reserved_until

    again = services.payment_intent_create(order=order)
    assert again.pk == payment.pk
    assert len(stripe_fake.creates("/v1/payment_intents")) == 1


def test_zero_decimal_currencies_are_not_multiplied(stripe_fake, settings):
    settings.SHOP_CURRENCY = "JPY"
    variant = make_product(variants=[{"price": "1500"}]).variants.get()
    order = guest_checkout(guest_cart((variant, 3)))
    services.payment_intent_create(order=order)
    [call] = stripe_fake.creates("/v1/payment_intents")
    assert (call.params["amount"], call.params["currency"]) == ("4500", "jpy")


def test_an_amount_the_currency_cannot_express(stripe_fake, settings):
    variant = make_product(variants=[{"price": "10.25"}]).variants.get()
    order = guest_checkout(guest_cart((variant, 1)))
    # An order from before the shop moved to a currency without cents.
    Order.objects.filter(pk=order.pk).update(currency="JPY")
    settings.SHOP_CURRENCY = "JPY"
    order.refresh_from_db()
    for start in (open_session, lambda o: services.payment_intent_create(order=o)):
        error = refused(lambda start=start: start(order))
        assert (error.code, error.message) == (
            ErrorCode.PAYMENT_ERROR,
            "10.25 cannot be expressed in JPY.",
        )
    assert stripe_fake.calls == []
    assert not Payment.objects.exists()


# ---------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("success", "cancel", "fields"),
    [
        ("ftp://shop.example/ok", CANCEL_URL, ["successUrl"]),
        (SUCCESS_URL, "javascript:alert(1)", ["cancelUrl"]),
        ("", "https://", ["successUrl", "cancelUrl"]),
        ("https://shop.example/" + "x" * 2100, CANCEL_URL, ["successUrl"]),
        ("https://shop.example/a b", CANCEL_URL, ["successUrl"]),
        ("http://[::1/ok", CANCEL_URL, ["successUrl"]),
    ],
)
def test_urls_must_be_http(stripe_fake, order, success, cancel, fields):
    error = refused(
        lambda: services.payment_checkout_session_create(
            order=order, success_url=success, cancel_url=cancel
        )
    )
    assert [(e.code, e.field) for e in error.errors] == [
        (ErrorCode.INVALID, field) for field in fields
    ]
    assert stripe_fake.calls == []
    assert not Payment.objects.exists()


@pytest.mark.parametrize("status", [OrderStatus.PAID, OrderStatus.CANCELED])
def test_only_an_order_awaiting_payment(stripe_fake, order, status):
    order_transition(
        order_id=order.pk, to_status=status, cancel_reason=CancelReason.BUYER
    )
    for start in (open_session, lambda o: services.payment_intent_create(order=o)):
        error = refused(lambda start=start: start(order))
        assert (error.code, error.field) == (ErrorCode.INVALID_STATUS, "orderId")
    assert stripe_fake.calls == []
    assert not Payment.objects.exists()


def test_stripe_refusing_saves_nothing(stripe_fake, order):
    before = Order.objects.get(pk=order.pk)
    stripe_fake.fail_next(
        400, "invalid_request_error", "Not a valid URL: cancel_url", "url_invalid"
    )
    error = refused(lambda: open_session(order))
    assert error.code == ErrorCode.PAYMENT_ERROR
    assert error.message == "Stripe: Not a valid URL: cancel_url"
    assert not Payment.objects.exists()
    after = Order.objects.get(pk=order.pk)
    assert (after.status, after.reserved_until) == (
        before.status,
        before.reserved_until,
    )
    # the next try is a new attempt, with a new idempotency key
    payment = open_session(order)
    refused_call, accepted = stripe_fake.creates("/v1/checkout/sessions")
    assert accepted.idempotency_key == payment.idempotency_key
    assert refused_call.idempotency_key != accepted.idempotency_key


def test_stripe_refusing_an_intent(stripe_fake, order):
    stripe_fake.fail_next(401, "invalid_request_error", "Invalid API Key provided")
    error = refused(lambda: services.payment_intent_create(order=order))
    assert (error.code, error.message) == (
        ErrorCode.PAYMENT_ERROR,
        "Stripe: Invalid API Key provided",
    )
    assert not Payment.objects.exists()


def test_stripe_unreachable_saves_nothing(settings, order, caplog):
    settings.STRIPE_API_BASE = f"http://127.0.0.1:{free_port()}"  # nothing listens
    before = Order.objects.get(pk=order.pk)
    for start in (open_session, lambda o: services.payment_intent_create(order=o)):
        error = refused(lambda start=start: start(order))
        assert error.code == ErrorCode.PAYMENT_ERROR
        assert "could not be reached" in error.message
    # An outage, not a refusal: one ERROR line each (the logs' alarm, Sentry).
    outages = [r for r in caplog.records if r.name == "shop.payments.services"]
    assert [r.levelname for r in outages] == ["ERROR", "ERROR"]
    assert all("did not answer" in r.getMessage() for r in outages)
    assert not Payment.objects.exists()
    assert Order.objects.get(pk=order.pk).reserved_until == before.reserved_until


def test_an_unanswered_call_is_retried_with_the_same_key(stripe_fake, order, settings):
    """Stripe made the session but its answer came too late: the retried mutation
    sends the same key and parameters and gets that session, not a second one."""
    settings.STRIPE_TIMEOUT_SECONDS = 0.5
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    stripe_fake.delay_after_work = 1.5
    error = refused(lambda: open_session(order))
    assert error.code == ErrorCode.PAYMENT_ERROR
    assert not Payment.objects.filter(status=PaymentStatus.OPEN).exists()
    assert Order.objects.get(pk=order.pk).reserved_until == order.reserved_until

    payment = open_session(order)
    first, retry = stripe_fake.creates("/v1/checkout/sessions")
    assert first.idempotency_key == retry.idempotency_key == payment.idempotency_key
    assert first.params == retry.params
    [session] = stripe_fake.sessions.values()
    assert payment.stripe_checkout_session_id == session["id"]
    assert Payment.objects.count() == 1


def test_the_clients_own_retries_reuse_the_key(stripe_fake, order, settings):
    """With the default retries a slow first answer costs a retry, not a second
    session."""
    settings.STRIPE_TIMEOUT_SECONDS = 0.5
    stripe_fake.delay_after_work = 1.5
    payment = services.payment_intent_create(order=order)
    calls = stripe_fake.creates("/v1/payment_intents")
    assert len(calls) == 2
    assert {c.idempotency_key for c in calls} == {payment.idempotency_key}
    assert len(stripe_fake.intents) == 1


def test_without_a_secret_key_the_error_names_the_variable(settings, order):
    settings.STRIPE_SECRET_KEY = ""
    for start in (open_session, lambda o: services.payment_intent_create(order=o)):
        error = refused(lambda start=start: start(order))
        assert error.code == ErrorCode.PAYMENT_ERROR
        assert "STRIPE_SECRET_KEY" in error.message
    assert not Payment.objects.exists()


def test_an_order_canceled_while_stripe_answered(stripe_fake, order, monkeypatch):
    """The order is canceled between the attempt and Stripe's answer: the new
    session is expired at Stripe at once and the buyer told INVALID_STATUS."""
    create = services._attempt_opened

    def cancel_first(payment, **kwargs):
        order_transition(
            order_id=order.pk,
            to_status=OrderStatus.CANCELED,
            cancel_reason=CancelReason.UNPAID,
        )
        return create(payment, **kwargs)

    monkeypatch.setattr(services, "_attempt_opened", cancel_first)
    error = refused(lambda: open_session(order))
    assert error.code == ErrorCode.INVALID_STATUS
    [session] = stripe_fake.sessions.values()
    assert session["status"] == "expired"
    assert Payment.objects.get().status == PaymentStatus.EXPIRED
