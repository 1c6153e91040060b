"""Redis stopped under a running server, then back: the catalog keeps answering,
carts say SERVICE_UNAVAILABLE, checkout refuses without writing an order, and
everything works again, from the first request, once Redis returns.

A real uvicorn process on the test database and a private redis-server (never the
shared one), which the test stops and starts again on the same port.
"""

import json
import os
import urllib.error
import urllib.request

import pytest
from graphql_jwt.shortcuts import get_token

from shop.catalog.models import ProductVariant
from shop.orders.models import Order
from tests.e2e.servers import server_database_url, uvicorn
from tests.factories import UserFactory, make_product
from tests.faults.services import PrivateRedis
from tests.orders_helpers import ADDRESS_INPUT

pytestmark = pytest.mark.django_db(transaction=True)

LISTING = """{ products(first: 5) { totalCount edges { node { name
  variants { id sku price { amount } quantityAvailable } } } } }"""

PRODUCT_PAGE = """{ product(slug: "desk-lamp") { name
  variants { sku quantityAvailable } } }"""

CART = "query($t: String) { cart(token: $t) { token totalQuantity } }"

ADD = """mutation($t: String, $lines: [CartLineInput!]!) {
  cartLinesAdd(token: $t, lines: $lines) { cart { token totalQuantity }
  errors { code } } }"""

CHECKOUT = """mutation($input: CheckoutInput!) { checkout(input: $input) {
  order { number status } errors { code field } } }"""

UNAVAILABLE = "Carts are unavailable right now; try again shortly."


def post(base: str, query: str, token: str | None = None, **variables):
    """(HTTP status, JSON body) of a GraphQL POST."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(
        f"{base}/graphql/",
        data=json.dumps({"query": query, "variables": variables}).encode(),
        headers=headers,
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def ok(base: str, query: str, token: str | None = None, **variables) -> dict:
    status, body = post(base, query, token, **variables)
    assert status == 200, body
    assert "errors" not in body, body
    return body["data"]


def unavailable(base: str, query: str, token=None, **variables) -> dict | None:
    """The data of an answer whose only error is SERVICE_UNAVAILABLE."""
    status, body = post(base, query, token, **variables)
    assert status == 200, body
    assert [(e["message"], e["extensions"]["code"]) for e in body["errors"]] == [
        (UNAVAILABLE, "SERVICE_UNAVAILABLE")
    ], body
    return body["data"]


def readiness(base: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"{base}/readyz/", timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture
def redis_server():
    server = PrivateRedis()
    server.start()
    yield server
    server.remove()


@pytest.fixture
def server(redis_server, tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": server_database_url(),
        "REDIS_URL": redis_server.url,
        "DJANGO_DEBUG": "false",
        "DJANGO_LOG_LEVEL": "WARNING",
    }
    with uvicorn(env, tmp_path / "server.log") as base:
        yield base


def test_redis_down_then_back(server, redis_server):
    make_product(
        name="Desk Lamp",
        slug="desk-lamp",
        variants=[{"sku": "LAMP", "price": "19.99", "quantity_available": 5}],
    )
    buyer = get_token(UserFactory(email="ada@example.com"))
    listing = ok(server, LISTING)
    page = ok(server, PRODUCT_PAGE)
    lamp = listing["products"]["edges"][0]["node"]["variants"][0]["id"]
    line = [{"variantId": lamp, "quantity": 2}]
    guest = ok(server, ADD, lines=line)["cartLinesAdd"]["cart"]["token"]
    ok(server, ADD, buyer, lines=line)

    redis_server.stop()

    assert ok(server, LISTING) == listing
    assert ok(server, PRODUCT_PAGE) == page
    assert unavailable(server, CART, t=guest) == {"cart": None}
    assert unavailable(server, "{ me { email } cart { totalQuantity } }", buyer) == {
        "me": {"email": "ada@example.com"},
        "cart": None,
    }
    assert unavailable(server, ADD, lines=line) is None
    assert unavailable(server, ADD, buyer, t=guest, lines=line) is None
    for token, cart_token in ((None, guest), (buyer, None)):
        checkout = {"shippingAddress": ADDRESS_INPUT, "email": "ada@example.com"}
        assert unavailable(
            server, CHECKOUT, token, input={**checkout, "cartToken": cart_token}
        ) is None  # fmt: skip
    assert not Order.objects.exists()
    assert ProductVariant.objects.get(sku="LAMP").quantity_available == 5
    assert readiness(server) == (
        503,
        {"status": "unavailable", "checks": {"database": "ok", "redis": "down"},
         "failing": ["redis"]},
    )  # fmt: skip

    redis_server.start()  # with what it held before the outage

    assert ok(server, CART, t=guest) == {"cart": {"token": guest, "totalQuantity": 2}}
    assert ok(server, CART, buyer) == {"cart": {"token": None, "totalQuantity": 2}}
    placed = ok(
        server,
        CHECKOUT,
        buyer,
        input={"shippingAddress": ADDRESS_INPUT, "idempotencyKey": "after-outage"},
    )["checkout"]
    assert placed["errors"] == []
    assert placed["order"]["status"] == "PENDING_PAYMENT"
    assert Order.objects.get().email == "ada@example.com"
    assert ProductVariant.objects.get(sku="LAMP").quantity_available == 3
    more = [{"variantId": lamp, "quantity": 1}]
    assert ok(server, ADD, t=guest, lines=more)["cartLinesAdd"] == {
        "cart": {"token": guest, "totalQuantity": 3},
        "errors": [],
    }
    assert readiness(server)[0] == 200
