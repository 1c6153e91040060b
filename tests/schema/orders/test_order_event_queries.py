"""An order event's cost in queries does not grow with the order's lines: the order,
its lines, their variants and products are read once each (as over HTTP), plus the
re-read of the signed-in subscriber before the event goes out."""

import contextlib
import threading

import pytest
import pytest_asyncio
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connection, connections
from django.db.backends.utils import CursorWrapper
from graphql_jwt.shortcuts import get_token
from strawberry import relay

from shop.asgi import application
from shop.orders import services as order_services
from tests.factories import UserFactory, make_product
from tests.orders_helpers import ADDRESS, user_cart

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

FOLLOW = """subscription($id: ID!) {
  orderStatusChanged(orderId: $id, includeCurrent: true) {
    status order { number lines { quantity
      variant { sku price { amount } product { name description } } } } } }"""


@pytest_asyncio.fixture(autouse=True)
async def _close_thread_connections():
    yield
    await sync_to_async(connections.close_all)()


def placed_order(lines: int):
    """A buyer's order of ``lines`` lines, each a variant of its own product."""
    buyer = UserFactory()
    variants = [
        make_product(
            variants=[{"price": "3.00", "quantity_available": 5}]
        ).variants.get()
        for _ in range(lines)
    ]
    user_cart(buyer, *((variant, 1) for variant in variants))
    order = order_services.checkout_complete(
        user=buyer, cart_token=None, email=None, address=ADDRESS
    )
    return buyer, order


@contextlib.contextmanager
def queries_in_every_thread(monkeypatch):
    """(thread, SQL) of every query meanwhile, whichever thread (and connection)
    runs it: the server's database calls run on threads of their own."""
    statements: list[tuple[int, str]] = []
    execute = CursorWrapper._execute_with_wrappers

    def recorded(self, sql, *args, **kwargs):
        statements.append((threading.get_ident(), sql))
        return execute(self, sql, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(CursorWrapper, "_execute_with_wrappers", recorded)
        yield statements


def pay(order_id: int) -> int:
    """Pay the order; the thread that did it (its queries are not the event's)."""
    try:
        order_services.order_transition(order_id=order_id, to_status="PAID")
        return threading.get_ident()
    finally:
        connection.close()  # a thread of its own: nobody else closes it


async def paid_event_queries(monkeypatch, lines: int) -> list[str]:
    """The queries the server runs to deliver the PAID event of an order of
    ``lines`` lines to its owner."""
    buyer, order = await sync_to_async(placed_order)(lines)
    token = await sync_to_async(get_token)(buyer)
    socket = WebsocketCommunicator(
        application, "/graphql/", subprotocols=["graphql-transport-ws"]
    )
    assert (await socket.connect())[0]
    try:
        await socket.send_json_to(
            {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
        )
        assert await socket.receive_json_from() == {"type": "connection_ack"}
        variables = {"id": relay.to_base64("Order", order.pk)}
        await socket.send_json_to(
            {
                "id": "1",
                "type": "subscribe",
                "payload": {"query": FOLLOW, "variables": variables},
            }
        )
        current = await socket.receive_json_from(timeout=10)
        assert current["payload"]["data"]["orderStatusChanged"]["status"] == (
            "PENDING_PAYMENT"
        )
        with queries_in_every_thread(monkeypatch) as statements:
            payer = await sync_to_async(pay, thread_sensitive=False)(order.pk)
            message = await socket.receive_json_from(timeout=10)
        event = message["payload"]["data"]["orderStatusChanged"]
        assert event["status"] == "PAID"
        assert len(event["order"]["lines"]) == lines
        assert all(line["variant"]["product"] for line in event["order"]["lines"])
        return [sql for thread, sql in statements if thread != payer]
    finally:
        await socket.disconnect()


async def test_an_events_queries_do_not_grow_with_the_orders_lines(monkeypatch):
    one = await paid_event_queries(monkeypatch, 1)
    five = await paid_event_queries(monkeypatch, 5)

    assert len(one) == len(five) == 5, [one, five]
