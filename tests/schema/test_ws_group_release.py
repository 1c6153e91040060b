"""A burst of sockets closing at once (a proxy or load balancer restarting) leaves
every group they joined: no membership outlives its socket. The process is one
member of a group however many of its sockets follow it (GroupFanout)."""

import asyncio

import pytest
from channels.layers import get_channel_layer
from django.conf import settings
from redis import asyncio as aioredis

from schema import schema
from schema.consumers import ShopGraphQLWSConsumer

pytestmark = pytest.mark.asyncio

# More sockets than Redis connections one process may hold (max_connections).
SOCKETS = 1200


async def test_sockets_closing_at_once_leave_every_group():
    layer = get_channel_layer()
    group = "order.burst-test"
    key = f"{layer.prefix}:group:{group}"
    joining = asyncio.Semaphore(50)
    joined = 0
    all_joined = asyncio.Event()
    close = asyncio.Event()

    async def socket() -> None:
        nonlocal joined
        consumer = ShopGraphQLWSConsumer(schema=schema)
        consumer.channel_layer = layer
        consumer.channel_name = await layer.new_channel()
        async with joining:
            listening = consumer.listen("order.event", [group])
            await listening.__aenter__()
        joined += 1
        if joined == SOCKETS:
            all_joined.set()
        await close.wait()
        await listening.__aexit__(None, None, None)  # every socket at once

    redis = aioredis.Redis.from_url(settings.REDIS_URL)
    try:
        tasks = [asyncio.create_task(socket()) for _ in range(SOCKETS)]
        await asyncio.wait_for(all_joined.wait(), 60)
        assert await redis.zcard(key) == 1  # the process, once
        close.set()
        await asyncio.gather(*tasks)
        assert await redis.zcard(key) == 0
    finally:
        await redis.delete(key)
        await redis.aclose()
