"""Order events on the channel layer, for live subscriptions."""

import asyncio
import os
import threading
from datetime import datetime

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels_redis.core import RedisChannelLayer

EVENT_TYPE = "order.event"
# A publish waits this long for Redis before it fails (and is logged by the caller).
PUBLISH_TIMEOUT_SECONDS = 10.0


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
    if not isinstance(layer, RedisChannelLayer):
        # The in-memory layer's queues belong to the server's event loop, which
        # async_to_sync runs this on.
        async_to_sync(_send)(layer, groups, message)
        return
    sending = asyncio.run_coroutine_threadsafe(
        _send(layer, groups, message), _publisher_loop()
    )
    try:
        sending.result(PUBLISH_TIMEOUT_SECONDS)
    except BaseException:
        sending.cancel()
        raise


async def _send(layer, groups: list[str], message: dict) -> None:
    for group in groups:
        await layer.group_send(group, message)


# channels_redis keeps its Redis connections per event loop, and async_to_sync
# runs each call on a new loop outside a server: every publish (a Celery task, a
# webhook, the admin) connected to Redis again. One long-lived loop per process
# keeps them (a new one after a fork: the thread does not survive it).
_publisher: tuple[int, asyncio.AbstractEventLoop] | None = None
_publisher_lock = threading.Lock()


def _publisher_loop() -> asyncio.AbstractEventLoop:
    global _publisher
    with _publisher_lock:
        if _publisher is None or _publisher[0] != os.getpid():
            loop = asyncio.new_event_loop()
            threading.Thread(
                target=loop.run_forever, name="order-events", daemon=True
            ).start()
            _publisher = (os.getpid(), loop)
        return _publisher[1]
