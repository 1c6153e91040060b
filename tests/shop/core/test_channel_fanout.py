"""The process-level fan-out of channel-layer groups (GroupFanout) on real Redis:
one membership per group and process, each local listener gets its groups'
messages of its type, once and in order, and the process leaves a group with its
last listener. The sender is another layer instance, as another process is."""

import asyncio
import os
import uuid

import pytest
from redis import asyncio as aioredis

from shop.core.channel_layers import GroupFanout, ShopRedisChannelLayer, group_fanout

pytestmark = pytest.mark.asyncio

REDIS = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
WAIT = 10  # seconds before a missing message fails the test (never a timing check)


def layers(hosts: list[dict]) -> tuple[ShopRedisChannelLayer, ShopRedisChannelLayer]:
    prefix = f"fanout-{uuid.uuid4().hex[:8]}"
    return (
        ShopRedisChannelLayer(hosts=hosts, prefix=prefix),
        ShopRedisChannelLayer(hosts=hosts, prefix=prefix),
    )


async def members(layer: ShopRedisChannelLayer, group: str) -> int:
    address = layer.hosts[layer.consistent_hash(group)]["address"]
    redis = aioredis.Redis.from_url(address)
    try:
        return await redis.zcard(f"{layer.prefix}:group:{group}")
    finally:
        await redis.aclose()


async def drained(queue: asyncio.Queue) -> list:
    """What is on the queue once a last marker message has come."""
    got = []
    while True:
        message = await asyncio.wait_for(queue.get(), WAIT)
        if message.get("last"):
            return got
        got.append(message["n"])


async def close(*all_layers) -> None:
    for layer in all_layers:
        await layer.flush()
        await layer.close_pools()


async def test_one_membership_many_listeners_each_message_once_in_order():
    sender, receiver = layers([{"address": REDIS}])
    fanout = GroupFanout(receiver)
    queues = [asyncio.Queue() for _ in range(50)]
    try:
        for queue in queues:
            await fanout.join("order.1", "order.event", queue)
        assert await members(receiver, "order.1") == 1
        for n in range(20):
            await sender.group_send("order.1", {"type": "order.event", "n": n})
        await sender.group_send("order.1", {"type": "order.event", "last": True})
        for queue in queues:
            assert await drained(queue) == list(range(20))
            assert queue.empty()
    finally:
        for queue in queues:
            await fanout.leave("order.1", queue)
        await close(sender, receiver)


async def test_listeners_get_only_their_groups_and_types():
    sender, receiver = layers([{"address": REDIS}])
    fanout = GroupFanout(receiver)
    mine, theirs, revoked = asyncio.Queue(), asyncio.Queue(), asyncio.Queue()
    try:
        await fanout.join("user.1.orders", "order.event", mine)
        await fanout.join("user.2.orders", "order.event", theirs)
        await fanout.join("user.1.orders", "user.revoked", revoked)
        await sender.group_send("user.1.orders", {"type": "order.event", "n": 1})
        await sender.group_send("user.1.orders", {"type": "user.revoked", "n": 2})
        for group in ("user.1.orders", "user.2.orders"):
            for kind in ("order.event", "user.revoked"):
                await sender.group_send(group, {"type": kind, "last": True})
        assert await drained(mine) == [1]
        assert await drained(revoked) == [2]
        assert await drained(theirs) == []
        assert (mine.empty(), theirs.empty(), revoked.empty()) == (True, True, True)
    finally:
        await fanout.leave("user.1.orders", mine)
        await fanout.leave("user.2.orders", theirs)
        await fanout.leave("user.1.orders", revoked)
        await close(sender, receiver)


async def test_the_last_listener_leaving_leaves_the_group_and_a_new_one_rejoins():
    sender, receiver = layers([{"address": REDIS}])
    fanout = GroupFanout(receiver)
    first, second, later = asyncio.Queue(), asyncio.Queue(), asyncio.Queue()
    try:
        await fanout.join("order.7", "order.event", first)
        await fanout.join("order.7", "order.event", second)
        await fanout.leave("order.7", first)
        assert await members(receiver, "order.7") == 1  # second still follows
        await sender.group_send("order.7", {"type": "order.event", "n": 1})
        await sender.group_send("order.7", {"type": "order.event", "last": True})
        assert await drained(second) == [1]
        assert first.empty()

        await fanout.leave("order.7", second)
        assert await members(receiver, "order.7") == 0
        assert fanout.groups == {}

        await fanout.join("order.7", "order.event", later)
        assert await members(receiver, "order.7") == 1
        await sender.group_send("order.7", {"type": "order.event", "n": 2})
        await sender.group_send("order.7", {"type": "order.event", "last": True})
        assert await drained(later) == [2]
    finally:
        await fanout.leave("order.7", later)
        await close(sender, receiver)
    assert await members(receiver, "order.7") == 0


async def test_joins_and_leaves_at_once_never_lose_a_live_membership():
    """Listeners coming and going concurrently: while one remains, the process
    stays a member (a leave's discard never lands after a later join's add)."""
    sender, receiver = layers([{"address": REDIS}])
    fanout = GroupFanout(receiver)
    stays = asyncio.Queue()

    async def come_and_go() -> None:
        queue = asyncio.Queue()
        await fanout.join("order.9", "order.event", queue)
        await fanout.leave("order.9", queue)

    try:
        for _ in range(5):
            await asyncio.gather(*(come_and_go() for _ in range(40)))
            assert await members(receiver, "order.9") == 0
        await asyncio.gather(
            *(come_and_go() for _ in range(40)),
            fanout.join("order.9", "order.event", stays),
            *(come_and_go() for _ in range(40)),
        )
        assert await members(receiver, "order.9") == 1
        await sender.group_send("order.9", {"type": "order.event", "n": 1})
        await sender.group_send("order.9", {"type": "order.event", "last": True})
        assert await drained(stays) == [1]
    finally:
        await fanout.leave("order.9", stays)
        await close(sender, receiver)
    assert await members(receiver, "order.9") == 0


async def test_groups_shard_over_two_redis_servers():
    server = REDIS.rsplit("/", 1)[0]
    sender, receiver = layers([{"address": f"{server}/7"}, {"address": f"{server}/8"}])
    fanout = group_fanout(receiver)
    assert group_fanout(receiver) is fanout  # one per layer and event loop
    groups = [f"order.{n}" for n in range(40)]
    queues = {group: asyncio.Queue() for group in groups}
    try:
        for group, queue in queues.items():
            await fanout.join(group, "order.event", queue)
        assert {receiver.consistent_hash(group) for group in groups} == {0, 1}
        for number, group in enumerate(groups):
            await sender.group_send(group, {"type": "order.event", "n": number})
            await sender.group_send(group, {"type": "order.event", "last": True})
        assert [await drained(queues[group]) for group in groups] == [
            [n] for n in range(40)
        ]
    finally:
        for group, queue in queues.items():
            await fanout.leave(group, queue)
        await close(sender, receiver)
