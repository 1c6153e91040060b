"""order_event_publish on the Redis channel layer: one long-lived event loop per
process sends the events (its Redis connections kept between publishes), from any
thread, and a forked child (a Celery prefork worker) gets a loop of its own."""

import multiprocessing
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from shop.orders import events


def publish(order_id: int, status: str = "PAID") -> None:
    events.order_event_publish(
        order_id=order_id,
        user_id=None,
        status=status,
        previous_status="PENDING_PAYMENT",
        at=datetime.now(UTC),
    )


def received(channel: str, count: int) -> list[dict]:
    layer = get_channel_layer()

    async def receive():
        return [await layer.receive(channel) for _ in range(count)]

    return async_to_sync(receive)()


def joined(order_id: int) -> str:
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(events.order_group(order_id), channel)
    return channel


def test_publishes_from_many_threads_share_one_loop_and_all_arrive():
    order_id = uuid.uuid4().int % 10**9
    channel = joined(order_id)
    with ThreadPoolExecutor(max_workers=4) as threads:
        list(threads.map(lambda _: publish(order_id), range(20)))
    loop = events._publisher_loop()
    assert events._publisher_loop() is loop
    messages = received(channel, 20)
    assert {(m["order_id"], m["status"]) for m in messages} == {(order_id, "PAID")}
    assert len(messages) == 20


def _publish_in_child(order_id: int) -> None:
    publish(order_id, "FULFILLED")


def test_a_forked_child_publishes_on_a_loop_of_its_own():
    order_id = uuid.uuid4().int % 10**9
    channel = joined(order_id)
    publish(order_id)  # the parent's loop exists before the fork
    child = multiprocessing.get_context("fork").Process(
        target=_publish_in_child, args=(order_id,)
    )
    child.start()
    child.join(30)
    assert child.exitcode == 0
    statuses = [m["status"] for m in received(channel, 2)]
    assert statuses == ["PAID", "FULFILLED"]
