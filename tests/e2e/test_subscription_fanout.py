"""Fan-out of one order event to many sockets of one server process, end to end
(a real uvicorn, Redis and graphql-transport-ws / graphql-ws clients): the process
joins each group once (shop.core.channel_layers.GroupFanout) and executes an
event once for every subscription asking the same (schema.shared_results). Each
socket must still get exactly what strawberry's own execution gives it, under its
own operation id, once, and nothing of anyone else's orders."""

import pytest
from graphql_jwt.shortcuts import get_token

from shop.orders import services as order_services
from tests.e2e.test_subscriptions import (  # noqa: F401 - the module's fixtures
    ORDER_STATUS_CHANGED,
    QUIET,
    change,
    environment,
    global_id,
    group_members,
    guest_order,
    stripe_api,
    user_order,
    wait_for_group,
)
from tests.e2e.test_subscriptions import server as server  # noqa: F401
from tests.e2e.ws_client import LEGACY_WS, Connection
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

EVENT_ONLY = """subscription($token: String) {
  orderStatusChanged(token: $token) { status previousStatus } }"""
WITH_LINES = """subscription($token: String) {
  orderStatusChanged(token: $token) {
    status order { number lines { quantity } } } }"""
MY_ORDERS = "subscription { myOrderEvents { status order { number } } }"


def test_many_sockets_one_event_each_gets_strawberrys_own_result_once(server):
    """Sockets asking the same share one execution; a legacy graphql-ws socket
    (strawberry's path, never shared) gets the same data; other selections get
    their own shape; each under its own operation id."""
    order = guest_order()
    sockets = [Connection.connect(server.ws) for _ in range(6)]
    legacy = Connection.connect(server.ws, protocol=LEGACY_WS)
    try:
        same = [
            socket.subscribe(ORDER_STATUS_CHANGED, token=order.token, current=True)
            for socket in sockets[:4]
        ]
        # a second operation on one socket, with the same document: ids differ
        same.append(
            sockets[0].subscribe(ORDER_STATUS_CHANGED, token=order.token, current=True)
        )
        event_only = sockets[4].subscribe(EVENT_ONLY, token=order.token)
        with_lines = sockets[5].subscribe(WITH_LINES, token=order.token)
        reference = legacy.subscribe(
            ORDER_STATUS_CHANGED, token=order.token, current=True
        )
        for operation in [*same, reference]:
            current = change(operation.next_event(), "orderStatusChanged")
            assert current == (order.number, "PENDING_PAYMENT", None)
        wait_for_group(f"order.{order.pk}")
        assert group_members(f"order.{order.pk}") == 1  # one server process

        order_services.order_transition(order_id=order.pk, to_status="PAID")

        expected = reference.next_message(timeout=10)
        assert expected["type"] == "next"
        assert expected["payload"]["data"]["orderStatusChanged"]["status"] == "PAID"
        for operation in same:
            message = operation.next_message(timeout=10)
            assert message == {**expected, "id": operation.id}
        assert len({operation.id for operation in same}) == 2  # "1" and "2"
        assert event_only.next_event(timeout=10) == {
            "data": {
                "orderStatusChanged": {
                    "status": "PAID",
                    "previousStatus": "PENDING_PAYMENT",
                }
            }
        }
        assert with_lines.next_event(timeout=10) == {
            "data": {
                "orderStatusChanged": {
                    "status": "PAID",
                    "order": {"number": order.number, "lines": [{"quantity": 1}]},
                }
            }
        }
        everyone = [*same, event_only, with_lines, reference]
        assert [
            operation.quiet(QUIET if n == 0 else 0)
            for n, operation in enumerate(everyone)
        ] == [[]] * len(everyone)
        assert [s.aio.unexpected for s in [*sockets, legacy]] == [[]] * 7
    finally:
        for socket in [*sockets, legacy]:
            socket.close()
    wait_for_group(f"order.{order.pk}", members=0, exactly=True)


def test_the_same_document_for_different_users_never_crosses(server, staff_user):
    """Two buyers' myOrderEvents (the same document, no variables) and staff
    following one order by id with the owner: each gets its own orders only."""
    first, second = UserFactory(), UserFactory()
    first_order, second_order = user_order(first), user_order(second)
    sockets = {
        "first": Connection.connect(server.ws, get_token(first)),
        "second": Connection.connect(server.ws, get_token(second)),
        "staff": Connection.connect(server.ws, get_token(staff_user)),
    }
    try:
        mine = {
            "first": sockets["first"].subscribe(MY_ORDERS),
            "second": sockets["second"].subscribe(MY_ORDERS),
        }
        follows = [
            sockets[name].subscribe(
                ORDER_STATUS_CHANGED, id=global_id(first_order), current=True
            )
            for name in ("first", "staff")
        ]
        for follow in follows:
            assert change(follow.next_event(), "orderStatusChanged")[1] == (
                "PENDING_PAYMENT"
            )
        wait_for_group(f"user.{first.pk}.orders")
        wait_for_group(f"user.{second.pk}.orders")

        order_services.order_transition(order_id=first_order.pk, to_status="PAID")
        order_services.order_transition(order_id=second_order.pk, to_status="PAID")

        assert mine["first"].next_event(timeout=10)["data"]["myOrderEvents"] == {
            "status": "PAID",
            "order": {"number": first_order.number},
        }
        assert mine["second"].next_event(timeout=10)["data"]["myOrderEvents"] == {
            "status": "PAID",
            "order": {"number": second_order.number},
        }
        for follow in follows:
            paid = change(follow.next_event(timeout=10), "orderStatusChanged")
            assert paid == (first_order.number, "PAID", "PENDING_PAYMENT")
        quiet = [operation.quiet(QUIET) for operation in [*mine.values(), *follows]]
        assert quiet == [[]] * 4
    finally:
        for socket in sockets.values():
            socket.close()
