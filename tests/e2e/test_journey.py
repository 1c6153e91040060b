"""A storefront's whole journey against a real uvicorn process on PostgreSQL and
Redis, over HTTP and WebSocket, as a browser client would drive it."""

import asyncio
import json
import os

import pytest
import websockets
from strawberry.relay import to_base64

from shop.catalog.models import ProductVariant
from shop.orders.models import Order
from tests.e2e.servers import Storefront, server_database_url, uvicorn
from tests.factories import CategoryFactory, make_product

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def server(tmp_path):
    """uvicorn serving the test database (committed data is visible to it)."""
    env = {
        **os.environ,
        "DATABASE_URL": server_database_url(),
        "DJANGO_DEBUG": "false",
        "DJANGO_LOG_LEVEL": "WARNING",
    }
    with uvicorn(env, tmp_path / "server.log") as base:
        yield base


def test_browse_cart_sign_in_merge_checkout_and_follow(server):
    phones = CategoryFactory(name="Phones", slug="phones")
    phone = make_product(
        name="Alpha Phone",
        category=phones,
        variants=[
            {
                "sku": "ALPHA-RED",
                "price": "499.00",
                "color": "Red",
                "quantity_available": 3,
            },
            {
                "sku": "ALPHA-BLUE",
                "price": "529.00",
                "color": "Blue",
                "quantity_available": 1,
            },
        ],
    )
    red = phone.variants.get(sku="ALPHA-RED")
    shop = Storefront(server)

    listing = shop(
        """query($f: ProductFilter) { products(filters: $f, first: 10) {
             totalCount edges { node { __typename id name
               variants { __typename id sku price { amount } } } } } }""",
        f={"category": "phones", "inStock": True},
    )["products"]
    assert listing["totalCount"] == 1
    variant_ids = {v["sku"]: v["id"] for v in listing["edges"][0]["node"]["variants"]}
    assert variant_ids["ALPHA-RED"] == to_base64("ProductVariant", red.pk)

    add = """mutation($token: String, $lines: [CartLineInput!]!) {
      cartLinesAdd(token: $token, lines: $lines) {
        cart { token totalQuantity subtotal { amount } } errors { code field } } }"""
    guest = shop(add, lines=[{"variantId": variant_ids["ALPHA-RED"], "quantity": 2}])
    cart_token = guest["cartLinesAdd"]["cart"]["token"]
    too_many = shop(
        add,
        token=cart_token,
        lines=[{"variantId": variant_ids["ALPHA-BLUE"], "quantity": 2}],
    )["cartLinesAdd"]
    assert too_many["errors"] == [
        {"code": "INSUFFICIENT_STOCK", "field": "lines.0.quantity"}
    ]

    registered = shop(
        """mutation { register(email: "ada@example.com",
             password: "correct horse battery") { user { email } errors { code } } }"""
    )["register"]
    assert registered["errors"] == []
    signed_in = shop(
        """mutation { tokenAuth(email: "ada@example.com",
             password: "correct horse battery") { token errors { code } } }"""
    )["tokenAuth"]
    shop.token = signed_in["token"]

    merged = shop(
        "query($t: String) { cart(token: $t) { token totalQuantity } }", t=cart_token
    )["cart"]
    assert merged == {"token": None, "totalQuantity": 2}

    checkout = shop(
        """mutation($input: CheckoutInput!) { checkout(input: $input) {
             order { id number status total { amount } } errors { code field } } }""",
        input={
            "idempotencyKey": "journey-1",
            "shippingAddress": {
                "name": "Ada",
                "line1": "1 Main St",
                "city": "Paris",
                "postalCode": "75001",
                "country": "FR",
            },
        },
    )["checkout"]
    assert checkout["errors"] == []
    order = checkout["order"]
    assert order["status"] == "PENDING_PAYMENT"
    assert order["total"] == {"amount": "998.00"}
    assert ProductVariant.objects.get(pk=red.pk).quantity_available == 1
    assert Order.objects.get().email == "ada@example.com"

    mine = shop("{ me { email orders(first: 5) { edges { node { number } } } } }")
    assert mine["me"]["orders"]["edges"] == [{"node": {"number": order["number"]}}]
    assert shop("{ cart { totalQuantity } }") == {"cart": {"totalQuantity": 0}}

    async def over_websocket():
        url = server.replace("http://", "ws://") + "/graphql/"
        async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:
            await ws.send(
                json.dumps(
                    {
                        "type": "connection_init",
                        "payload": {"authorization": f"Bearer {shop.token}"},
                    }
                )
            )
            assert json.loads(await ws.recv()) == {"type": "connection_ack"}
            await ws.send(
                json.dumps(
                    {
                        "id": "1",
                        "type": "subscribe",
                        "payload": {
                            "query": "query($id: ID) { order(id: $id) { status } }",
                            "variables": {"id": order["id"]},
                        },
                    }
                )
            )
            return json.loads(await ws.recv())

    reply = asyncio.run(over_websocket())
    assert reply["payload"]["data"] == {"order": {"status": "PENDING_PAYMENT"}}

    canceled = shop(
        "mutation($id: ID!) { orderCancel(id: $id) { order { status } } }",
        id=order["id"],
    )["orderCancel"]
    assert canceled["order"] == {"status": "CANCELED"}
    assert ProductVariant.objects.get(pk=red.pk).quantity_available == 3
