"""Order events on the channel layer, for live subscriptions."""

from datetime import datetime

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

EVENT_TYPE = "order.event"


def order_group(order_id: int) -> str:
    """Listeners of one order (its owner, staff, or a guest holding its token)."""
    return f"order.{order_id}"


def user_orders_group(user_id: int) -> str:
    """Listeners of every order of one user."""
    return f"user.{user_id}.orders"


def order_event_publish(
    *,
    order_id: int,
    user_id: int | None,
    status: str,
    previous_status: str | None,
    at: datetime,
) -> None:
    """Send an order's status change to its group and to its owner's group."""
    layer = get_channel_layer()
    if layer is None:
        return
    message = {
        "type": EVENT_TYPE,
        "order_id": order_id,
        "user_id": user_id,
        "status": status,
        "previous_status": previous_status,
        "at": at.isoformat(),
    }
    groups = [order_group(order_id)]
    if user_id is not None:
        groups.append(user_orders_group(user_id))
    async_to_sync(_send)(layer, groups, message)


async def _send(layer, groups: list[str], message: dict) -> None:
    # One trip into the event loop for both groups (async_to_sync is a thread hop).
    for group in groups:
        await layer.group_send(group, message)
