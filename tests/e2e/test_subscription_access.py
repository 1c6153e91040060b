"""What an order event shows, and to whom, end to end (a real uvicorn, PostgreSQL,
Redis and graphql-transport-ws / graphql-ws clients).

An event's ``order`` must be exactly what ``order(id:)`` / ``order(token:)`` answers
over HTTP to the same viewer: an unpublished product's variant is null for a buyer
or an order-token holder, as over HTTP, on the first event and every later one, on
the shared-result path and on strawberry's own. And a socket's rights follow its
user while it is open: a member of staff whose permission to read orders is
withdrawn gets no further event about someone else's order, and the socket is
closed with 4403.
"""

import json
import urllib.request

import pytest
from django.contrib.auth.models import Group, Permission
from graphql_jwt.shortcuts import get_token

from shop.catalog.models import Product
from shop.orders import services as order_services
from shop.orders.models import Order
from tests.e2e.test_subscriptions import (  # noqa: F401 - the module's fixtures
    ORDER_STATUS_CHANGED,
    QUIET,
    change,
    environment,
    global_id,
    stripe_api,
    user_order,
    wait_for_group,
)
from tests.e2e.test_subscriptions import pytestmark as pytestmark
from tests.e2e.test_subscriptions import server as server  # noqa: F401
from tests.e2e.ws_client import LEGACY_WS, TRANSPORT_WS, Connection
from tests.factories import UserFactory

ORDER = """number lines {
  productName quantity
  variant { sku name price { amount currency } product { name description } }
}"""
FOLLOW = f"""subscription($id: ID, $token: String) {{
  orderStatusChanged(orderId: $id, token: $token, includeCurrent: true) {{
    status order {{ {ORDER} }} }} }}"""
READ = f"""query($id: ID, $token: String) {{
  order(id: $id, token: $token) {{ {ORDER} }} }}"""


def http_post(base: str, query: str, token: str | None, variables: dict) -> dict:
    """POST /graphql/ (variables as given: one of them is named ``token``)."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(
        f"{base}/graphql/",
        data=json.dumps({"query": query, "variables": variables}).encode(),
        headers=headers,
    )
    with urllib.request.urlopen(request, timeout=20) as response:
        return json.loads(response.read())


class Viewer:
    """Someone following one order: over a socket, and asking over HTTP."""

    def __init__(self, server, order, *, user=None, protocol=None) -> None:
        self.server = server
        self.token = get_token(user) if user else None
        # a signed-in owner or staff by id, anyone else by the order's token
        self.variables = {"id": global_id(order)} if user else {"token": order.token}
        options = {"protocol": protocol} if protocol else {}
        self.socket = Connection.connect(server.ws, self.token, **options)
        self.follows = []

    def follow(self):
        operation = self.socket.subscribe(FOLLOW, **self.variables)
        self.follows.append(operation)
        return operation

    def over_http(self) -> dict:
        body = http_post(self.server.base, READ, self.token, self.variables)
        assert body.get("errors") is None, body
        return body["data"]["order"]


def event_order(payload: dict, status: str) -> dict:
    assert payload.get("errors") is None, payload
    event = payload["data"]["orderStatusChanged"]
    assert event["status"] == status, event
    return event["order"]


def test_an_events_order_is_what_http_answers_the_same_viewer(server, staff_user):
    buyer = UserFactory()
    order = user_order(buyer, price="19.90")
    product = Product.objects.get(variants__order_lines__order=order)
    viewers = {
        "token holder": Viewer(server, order),
        "token holder, legacy graphql-ws": Viewer(server, order, protocol=LEGACY_WS),
        "owner": Viewer(server, order, user=buyer),
        # staff may read unpublished products: the variant stays theirs to see
        "staff": Viewer(server, order, user=staff_user),
    }
    try:
        published = {name: v.over_http() for name, v in viewers.items()}
        assert all(o["lines"][0]["variant"] for o in published.values()), published
        first = {name: v.follow() for name, v in viewers.items()}
        for name, follow in first.items():
            current = event_order(follow.next_event(), "PENDING_PAYMENT")
            assert current == published[name], name

        Product.objects.filter(pk=product.pk).update(is_published=False)

        hidden = {name: v.over_http() for name, v in viewers.items()}
        variants = {name: o["lines"][0]["variant"] for name, o in hidden.items()}
        assert [name for name, variant in variants.items() if variant] == ["staff"]
        assert hidden["owner"]["lines"][0]["productName"] == product.name
        # a new follower's current state, then an event to everyone (shared
        # between the sockets asking the same; the legacy one's own execution)
        again = {name: v.follow() for name, v in viewers.items()}
        for name, follow in again.items():
            current = event_order(follow.next_event(), "PENDING_PAYMENT")
            assert current == hidden[name], name
        wait_for_group(f"order.{order.pk}")

        order_services.order_transition(order_id=order.pk, to_status="PAID")

        for name, viewer in viewers.items():
            for follow in viewer.follows:
                paid = event_order(follow.next_event(timeout=10), "PAID")
                assert paid == hidden[name], name
        for viewer in viewers.values():
            assert [f.quiet(QUIET) for f in viewer.follows] == [[], []]
    finally:
        for viewer in viewers.values():
            viewer.socket.close()


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
def test_staff_who_lose_the_right_to_read_orders_get_no_more_events(server, protocol):
    """Withdrawn in another process (here the test's, as the admin does), while
    the socket follows a customer's order: the next event is not delivered, the
    socket is closed with 4403; the owner still gets it."""
    buyer = UserFactory()
    order = user_order(buyer)
    clerk = UserFactory(is_staff=True)
    readers = Group.objects.create(name="Order readers")
    readers.permissions.add(
        Permission.objects.get(content_type__app_label="orders", codename="view_order")
    )
    clerk.groups.add(readers)
    with (
        Connection.connect(server.ws, get_token(clerk), protocol=protocol) as staff,
        Connection.connect(server.ws, get_token(buyer)) as owner,
    ):
        follows = {
            name: socket.subscribe(
                ORDER_STATUS_CHANGED, id=global_id(order), current=True
            )
            for name, socket in (("staff", staff), ("owner", owner))
        }
        for follow in follows.values():
            current = change(follow.next_event(), "orderStatusChanged")
            assert current == (order.number, "PENDING_PAYMENT", None)

        clerk.groups.remove(readers)
        order_services.order_transition(order_id=order.pk, to_status="PAID")

        paid = change(follows["owner"].next_event(timeout=10), "orderStatusChanged")
        assert paid == (order.number, "PAID", "PENDING_PAYMENT")
        assert staff.wait_closed(timeout=10) == (
            4403,
            "The account's rights have changed: reconnect.",
        )
        assert [m["type"] for m in follows["staff"].received] == ["next"]
        assert not owner.is_closed
    assert Order.objects.get(pk=order.pk).status == "PAID"
