"""The Redis channel layer the shop runs on (live order events over WebSocket)."""

from channels_redis.core import RedisChannelLayer
from redis import asyncio as aioredis


class ShopRedisChannelLayer(RedisChannelLayer):
    """channels_redis's layer, waiting for a free Redis connection instead of
    failing: redis-py 8's async pool raises MaxConnectionsError at once when all
    its connections are busy, so a burst of closing sockets failed to leave their
    groups (and kept receiving every event of them until the group expired)."""

    def create_pool(self, index):
        host = dict(self.hosts[index])
        address = host.pop("address")
        return aioredis.BlockingConnectionPool.from_url(address, **host)
