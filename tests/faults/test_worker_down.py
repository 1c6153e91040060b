"""No Celery worker running: orders are still placed; their emails go out when a
worker returns (the broker keeps the tasks meanwhile).

Checkouts go through /graphql/ with no worker anywhere; then a real
``celery -A workers worker`` process starts on the same database and broker, with
a mail backend that writes each message to a folder (tests/workers/held_mail.py).
"""

import os
import time
from email import message_from_bytes
from pathlib import Path

import pytest
from django_redis import get_redis_connection

from shop.orders.models import Order, OrderStatus
from tests.e2e.servers import celery_worker, server_database_url
from tests.factories import make_product
from tests.orders_helpers import ADDRESS_INPUT
from workers import app

pytestmark = pytest.mark.django_db(transaction=True)

ADD = """mutation($lines: [CartLineInput!]!) { cartLinesAdd(lines: $lines) {
  cart { token } errors { code } } }"""

CHECKOUT = """mutation($input: CheckoutInput!) { checkout(input: $input) {
  order { number status } errors { code field } } }"""


@pytest.fixture(autouse=True)
def _catalog(db):
    make_product(name="Desk Lamp", variants=[{"sku": "LAMP", "quantity_available": 5}])


def sent_mail(folder: Path, count: int, seconds: float = 20) -> list[Path]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and len(list(folder.glob("sent-*"))) < count:
        time.sleep(0.1)
    return sorted(folder.glob("sent-*"))


def test_orders_are_placed_without_a_worker_and_emailed_when_it_returns(gql, tmp_path):
    assert app.control.ping(timeout=0.5) == []  # no worker listens
    variant_id = gql.ok("{ products { edges { node { variants { id } } } } }")[
        "products"
    ]["edges"][0]["node"]["variants"][0]["id"]
    numbers = []
    for email in ("ada@example.com", "grace@example.com"):
        cart = gql.ok(ADD, {"lines": [{"variantId": variant_id, "quantity": 1}]})
        placed = gql.ok(
            CHECKOUT,
            {
                "input": {
                    "cartToken": cart["cartLinesAdd"]["cart"]["token"],
                    "email": email,
                    "shippingAddress": ADDRESS_INPUT,
                }
            },
        )["checkout"]
        assert placed["errors"] == []
        assert placed["order"]["status"] == "PENDING_PAYMENT"
        numbers.append(placed["order"]["number"])

    orders = Order.objects.order_by("pk")
    assert [o.number for o in orders] == numbers
    assert {o.status for o in orders} == {OrderStatus.PENDING_PAYMENT}
    assert [o.confirmation_sent_at for o in orders] == [None, None]
    # Both confirmation tasks wait in the broker's queue.
    assert get_redis_connection("default").llen("celery") == 2

    mail = tmp_path / "mail"
    mail.mkdir()
    env = {
        **os.environ,
        "DATABASE_URL": server_database_url(),
        "DJANGO_SETTINGS_MODULE": "tests.workers.worker_settings",
        "HELD_MAIL_DIR": str(mail),
    }
    with celery_worker("returning", env, tmp_path / "worker.log"):
        sent = sent_mail(mail, 2)
        assert len(sent) == 2, (tmp_path / "worker.log").read_text()
        time.sleep(0.5)  # anything else the worker might send
        assert len(list(mail.glob("sent-*"))) == 2

    messages = [message_from_bytes(path.read_bytes()) for path in sent]
    assert sorted((m["To"], m["Subject"]) for m in messages) == [
        ("ada@example.com", f"Your order {numbers[0]} is confirmed"),
        ("grace@example.com", f"Your order {numbers[1]} is confirmed"),
    ]
    assert all(o.confirmation_sent_at is not None for o in orders.all())
