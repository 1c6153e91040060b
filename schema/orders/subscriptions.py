"""Live order status over WebSocket: orderStatusChanged and myOrderEvents.

Events are published by shop.orders.events on commit, from whichever process made
the change, to the groups ``order.<id>`` and ``user.<id>.orders``. A subscription
joins its group before it reads anything, and skips what it has seen (the same
event can arrive through both groups on one socket): each change once, in order.
An event's result is computed once per process for every subscription asking the
same (schema.shared_results) and sent to each.

An event's ``order`` is read as ``order(id:)`` / ``order(token:)`` reads it over
HTTP, for the same viewer: through OrderType's queryset and the optimizer, so its
lines' variants and products go through their own types' querysets (an
unpublished product's variant is null for a buyer). Before each event goes out
the socket's rights are checked again (schema.consumers): the event resolves for
the user as re-read, or the socket is closed with 4403.
"""

import asyncio
from collections.abc import AsyncGenerator
from datetime import datetime

import strawberry
from channels.db import database_sync_to_async
from graphql import GraphQLError
from strawberry import relay
from strawberry.types import Info
from strawberry_django.queryset import run_type_get_queryset

from schema.context import order_grants
from schema.errors import graphql_error
from schema.ids import node_pk
from schema.optimizing import optimized
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
    async def order(self, info: Info) -> OrderType:
        return await database_sync_to_async(_visible_order)(info, self.order_id)


def _visible_order(info: Info, order_id: int) -> Order:
    """The order as HTTP's order field reads it for this viewer (one read per
    event and viewer: schema.shared_results shares it between the subscriptions
    asking the same)."""
    orders = Order.objects.filter(pk=order_id)
    orders = optimized(run_type_get_queryset(orders, OrderType, info), info)
    order = orders.first()
    if order is None:  # rights are checked before delivery: not expected
        raise graphql_error(OrderError(ErrorCode.NOT_FOUND, NOT_FOUND))
    return order


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


async def _recheck(info: Info) -> None:
    """Returns when the next event may go out: the token unexpired, the user
    active and holding every right the socket was opened with, re-read now. The
    event then resolves for the user as re-read, as a request over HTTP would.

    Otherwise the socket is being closed with 4403: this waits until its end
    cancels the subscription, so nothing more is sent on it.
    """
    auth = await info.context["ws"].operation_auth(info.context)
    if auth is None:
        await asyncio.get_running_loop().create_future()
    info.context["auth"] = auth


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
        if token is not None:  # as order(token:) grants it over HTTP
            order_grants(info).add(pk)
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
                await _recheck(info)
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
                await _recheck(info)
                event = _event(message)
                if not await shared.send(event, _event_key(message)):
                    yield event
