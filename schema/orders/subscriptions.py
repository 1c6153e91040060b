"""Live order status over WebSocket: orderStatusChanged and myOrderEvents.

Events are published by shop.orders.events on commit, from whichever process made
the change, to the groups ``order.<id>`` and ``user.<id>.orders``. A subscription
joins its group before it reads anything, and skips what it has seen (the same
event can arrive through both groups on one socket): each change once, in order.
An event's result is computed once per process for every subscription asking the
same (schema.shared_results) and sent to each.
"""

import asyncio
from collections import OrderedDict
from collections.abc import AsyncGenerator
from datetime import datetime

import strawberry
from channels.db import database_sync_to_async
from graphql import GraphQLError
from strawberry import relay
from strawberry.types import Info

from schema.errors import graphql_error
from schema.ids import node_pk
from schema.orders.types import OrderStatus, OrderType
from schema.shared_results import SharedResults
from shop.orders.errors import ErrorCode, OrderError
from shop.orders.events import EVENT_TYPE, order_group, user_orders_group
from shop.orders.models import Order
from shop.orders.selectors import order_by_token, order_list

NOT_FOUND = "No such order (or not yours to follow)."


@strawberry.type(description="An order's status changed (or, first, was placed).")
class OrderStatusEvent:
    order_id: strawberry.Private[int]
    status: OrderStatus = strawberry.field(description="The new status.")
    previous_status: OrderStatus | None = strawberry.field(
        description="null when the order was just placed (or for includeCurrent)."
    )
    at: datetime = strawberry.field(description="When the change was made.")

    @strawberry.field(description="The order as it is now.")
    async def order(self) -> OrderType:
        return await _order_at(self.order_id, self.at)


def _order(order_id: int) -> Order:
    return Order.objects.prefetch_related("lines").get(pk=order_id)


# One read of an order per event and process, however many subscribers it goes
# to (a thousand followers of one order would otherwise read it a thousand times).
_LOADS: "OrderedDict[tuple, asyncio.Future]" = OrderedDict()
_LOADS_KEPT = 256


async def _order_at(order_id: int, at: datetime) -> Order:
    key = (id(asyncio.get_running_loop()), order_id, at)
    load = _LOADS.get(key)
    if load is None:
        load = asyncio.ensure_future(database_sync_to_async(_order)(order_id))
        _LOADS[key] = load
        while len(_LOADS) > _LOADS_KEPT:
            _LOADS.popitem(last=False)
    return await asyncio.shield(load)


def _event(message: dict) -> OrderStatusEvent:
    return OrderStatusEvent(
        order_id=message["order_id"],
        status=OrderStatus(message["status"]),
        previous_status=(
            OrderStatus(message["previous_status"])
            if message["previous_status"]
            else None
        ),
        at=datetime.fromisoformat(message["at"]),
    )


def _event_key(message: dict) -> tuple:
    return (message["order_id"], message["status"], message["at"])


def _followed(user, order_id: int | None, token: str | None) -> dict | None:
    """The order's id, status and time if this user (or token holder) may follow
    it."""
    if token is not None:
        orders = order_by_token(token=token)
    else:
        orders = order_list(user=user).filter(pk=order_id)
    return orders.values("pk", "status", "updated_at").first()


async def _auth(info: Info):
    auth = await info.context["ws"].operation_auth(info.context)
    if auth is None:  # the socket was closed: its token or user is gone
        raise graphql_error(OrderError(ErrorCode.INVALID, "The connection is closed."))
    return auth


def _unauthenticated(message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": "UNAUTHENTICATED"})


@strawberry.type
class OrderSubscription:
    @strawberry.subscription(
        description="One order's status changes: by id for its owner or staff "
        "with orders.view_order, by its secret token for anyone holding it. "
        "includeCurrent: the first event is the order's current state."
    )
    async def order_status_changed(
        self,
        info: Info,
        order_id: relay.GlobalID | None = None,
        token: str | None = None,
        include_current: bool = False,
    ) -> AsyncGenerator[OrderStatusEvent, None]:
        if (order_id is None) == (token is None):
            raise graphql_error(
                OrderError(
                    ErrorCode.INVALID,
                    "Give exactly one of orderId and token.",
                    field="orderId",
                )
            )
        auth = await _auth(info)
        pk = None
        if order_id is not None:
            if not auth.is_authenticated:
                raise _unauthenticated(
                    "Sign in to follow an order by id, or use its token."
                )
            try:
                pk = node_pk(order_id, "Order", field="orderId", error=OrderError)
            except OrderError as error:
                raise graphql_error(error) from error
        found = await database_sync_to_async(_followed)(auth.user, pk, token)
        if found is None:
            raise graphql_error(
                OrderError(ErrorCode.NOT_FOUND, NOT_FOUND, field="orderId")
            )
        pk = found["pk"]
        shared = SharedResults(info)
        async with info.context["ws"].listen(EVENT_TYPE, [order_group(pk)]) as events:
            last = None
            if include_current:
                # Read after joining the group: no change falls in between.
                now = await database_sync_to_async(_followed)(auth.user, pk, token)
                last = now["updated_at"]
                yield OrderStatusEvent(
                    order_id=pk,
                    status=OrderStatus(now["status"]),
                    previous_status=None,
                    at=last,
                )
            while True:
                message = await events.get()
                at = datetime.fromisoformat(message["at"])
                if message["order_id"] != pk or (last is not None and at <= last):
                    continue  # another order's, or seen already
                last = at
                event = _event(message)
                if not await shared.send(event, _event_key(message)):
                    yield event

    @strawberry.subscription(
        description="Every status change of the signed-in user's orders, new "
        "orders included (status PENDING_PAYMENT, previousStatus null)."
    )
    async def my_order_events(
        self, info: Info
    ) -> AsyncGenerator[OrderStatusEvent, None]:
        auth = await _auth(info)
        if not auth.is_authenticated:
            raise _unauthenticated("Sign in to follow your orders.")
        seen: dict[int, datetime] = {}
        groups = [user_orders_group(auth.user.pk)]
        shared = SharedResults(info)
        async with info.context["ws"].listen(EVENT_TYPE, groups) as events:
            while True:
                message = await events.get()
                at = datetime.fromisoformat(message["at"])
                order_id = message["order_id"]
                if message.get("user_id") != auth.user.pk:
                    continue  # an order another subscription on this socket follows
                if order_id in seen and at <= seen[order_id]:
                    continue  # the same event through order.<id> on this socket
                seen[order_id] = at
                event = _event(message)
                if not await shared.send(event, _event_key(message)):
                    yield event
