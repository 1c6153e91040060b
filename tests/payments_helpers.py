"""Building blocks for payment tests: orders with payments, signed deliveries."""

import json

from django.conf import settings
from django.test import Client

from shop.catalog.models import ProductVariant
from shop.payments import services
from shop.payments.models import Payment, StripeEvent
from tests.stripe_fake import signature_for, stripe_event

SUCCESS_URL = "https://shop.example/thanks?session={CHECKOUT_SESSION_ID}"
CANCEL_URL = "https://shop.example/cart"


def open_session(order) -> Payment:
    return services.payment_checkout_session_create(
        order=order, success_url=SUCCESS_URL, cancel_url=CANCEL_URL
    )


def deliver(event: dict, *, secret: str | None = None, client: Client | None = None):
    """POST ``event`` to /webhooks/stripe/ as Stripe would, correctly signed."""
    payload = json.dumps(event)
    return post_webhook(
        payload,
        signature_for(payload, secret or settings.STRIPE_WEBHOOK_SECRET),
        client,
    )


def post_webhook(payload: str | bytes, signature: str | None, client=None):
    headers = {} if signature is None else {"HTTP_STRIPE_SIGNATURE": signature}
    return (client or Client()).post(
        "/webhooks/stripe/", payload, content_type="application/json", **headers
    )


def deliver_ok(event: dict) -> dict:
    response = deliver(event)
    assert response.status_code == 200, response.content
    return response.json()


def session_completed(fake, payment: Payment, **changes) -> dict:
    """checkout.session.completed for a payment's session, as Stripe sends it."""
    session = fake.complete_session(payment.stripe_checkout_session_id)
    return stripe_event("checkout.session.completed", {**session, **changes})


def stock(variant) -> int:
    return ProductVariant.objects.get(pk=variant.pk).quantity_available


def ledger() -> list[tuple[str, str]]:
    """(type, outcome) of every recorded event, oldest first."""
    return list(StripeEvent.objects.order_by("id").values_list("type", "outcome"))
