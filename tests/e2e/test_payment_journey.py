"""From cart to PAID on real processes: a uvicorn server and a Celery worker on
PostgreSQL and Redis, Stripe's API answered by a local fake over HTTP, and the
webhook signed as Stripe signs it."""

import os
import sys
import time
from pathlib import Path

import pytest

from shop.catalog.models import ProductVariant
from shop.orders.models import Order
from tests.e2e.servers import (
    Storefront,
    celery_worker,
    post_webhook,
    server_database_url,
    uvicorn,
)
from tests.factories import make_product
from tests.stripe_fake import FakeStripe, stripe_event

pytestmark = pytest.mark.django_db(transaction=True)

CELERY = str(Path(sys.executable).parent / "celery")


@pytest.fixture
def stripe_api():
    fake = FakeStripe()
    yield fake
    fake.close()


@pytest.fixture
def environment(stripe_api, tmp_path) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": server_database_url(),
        "DJANGO_DEBUG": "false",
        "DJANGO_LOG_LEVEL": "WARNING",
        "STRIPE_API_BASE": stripe_api.base,
        # django-environ: four slashes for an absolute path
        "EMAIL_URL": f"filemail:///{tmp_path / 'mail'}",
    }


@pytest.fixture
def server(environment, tmp_path):
    with uvicorn(environment, tmp_path / "web.log") as base:
        yield base


@pytest.fixture
def worker(environment, tmp_path):
    """`celery -A workers worker`, as production runs it."""
    with celery_worker("e2e-pay", environment, tmp_path / "worker.log"):
        yield


def mails(folder: Path) -> str:
    return "".join(p.read_text() for p in folder.glob("*")) if folder.exists() else ""


def test_cart_to_paid_with_a_real_server_and_worker(
    server, worker, stripe_api, tmp_path
):
    variant = make_product(
        name="Desk Lamp",
        variants=[{"name": "Brass", "price": "49.90", "quantity_available": 5}],
    ).variants.get()
    shop = Storefront(server)
    variant_id = shop(f'{{ variant(sku: "{variant.sku}") {{ id }} }}')["variant"]["id"]

    cart = shop(
        """mutation($lines: [CartLineInput!]!) { cartLinesAdd(lines: $lines) {
             cart { token } errors { code } } }""",
        lines=[{"variantId": variant_id, "quantity": 2}],
    )["cartLinesAdd"]["cart"]
    order = shop(
        """mutation($input: CheckoutInput!) { checkout(input: $input) {
             order { number token status total { amount } } errors { code } } }""",
        input={
            "cartToken": cart["token"],
            "email": "ada@example.com",
            "shippingAddress": {
                "name": "Ada",
                "line1": "1 Main St",
                "city": "Paris",
                "postalCode": "75001",
                "country": "FR",
            },
        },
    )["checkout"]["order"]
    assert (order["status"], order["total"]) == ("PENDING_PAYMENT", {"amount": "99.80"})

    payment = shop(
        """mutation($token: String, $ok: String!, $cancel: String!) {
             paymentCheckoutSessionCreate(orderToken: $token, successUrl: $ok,
                                          cancelUrl: $cancel) {
               url sessionId errors { code message } } }""",
        token=order["token"],
        ok="http://localhost:3000/thanks",
        cancel="http://localhost:3000/cart",
    )["paymentCheckoutSessionCreate"]
    assert payment["errors"] == []
    session = stripe_api.sessions[payment["sessionId"]]
    assert payment["url"] == session["url"]
    assert (session["amount_total"], session["currency"]) == (9980, "usd")
    assert session["metadata"]["order_number"] == order["number"]

    # the buyer pays on Stripe's page; Stripe calls the webhook
    completed = stripe_event(
        "checkout.session.completed", stripe_api.complete_session(session["id"])
    )
    assert post_webhook(server, completed)["outcome"] == "PROCESSED"
    assert post_webhook(server, completed)["duplicate"] is True

    status = shop(f'{{ order(token: "{order["token"]}") {{ status }} }}')["order"]
    assert status == {"status": "PAID"}
    assert Order.objects.get(number=order["number"]).payments.get().settles_order
    assert ProductVariant.objects.get(pk=variant.pk).quantity_available == 3

    subject = f"We received your payment for order {order['number']}"
    deadline = time.monotonic() + 30
    while subject not in mails(tmp_path / "mail") and time.monotonic() < deadline:
        time.sleep(0.2)
    sent = mails(tmp_path / "mail")
    assert subject in sent, (tmp_path / "worker.log").read_text()
    assert "To: ada@example.com" in sent
