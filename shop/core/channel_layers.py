"""The Redis channel layer the shop runs on (live order events over WebSocket),
and the per-process fan-out of its groups to local listeners."""

import asyncio
import contextlib
import logging
import weakref

from channels_redis.core import RedisChannelLayer
from redis import asyncio as aioredis

logger = logging.getLogger(__name__)


class ShopRedisChannelLayer(RedisChannelLayer):
    """channels_redis's layer, waiting for a free Redis connection instead of
    failing: redis-py 8's async pool raises MaxConnectionsError at once when all
    its connections are busy, so a burst of closing sockets failed to leave their
    groups (and kept receiving every event of them until the group expired)."""

    def create_pool(self, index):
        host = dict(self.hosts[index])
        address = host.pop("address")
        return aioredis.BlockingConnectionPool.from_url(address, **host)


# ---------------------------------------------------------------- local fan-out

# How often a process renews its group memberships: channels_redis drops a member
# older than group_expiry (a day) at the next group_send, and a process may follow
# a group for longer than that.
RENEW_SECONDS = 3600.0
# A receive loop that failed (Redis gone) tries again after this long.
RETRY_SECONDS = 1.0


class _Group:
    """One group as this process follows it: its local listeners (queue -> the
    message type it wants), the process's channel in the group while it has any,
    and the task reading that channel."""

    __slots__ = ("name", "listeners", "channel", "task", "lock", "users")

    def __init__(self, name: str) -> None:
        self.name = name
        self.listeners: dict[asyncio.Queue, str] = {}
        self.channel: str | None = None
        self.task: asyncio.Task | None = None
        self.lock = asyncio.Lock()
        self.users = 0  # joined or joining, and not done leaving


class GroupFanout:
    """One channel-layer membership per group and process, whatever the number of
    local listeners: a group_send reaches the process as one message, read by one
    task and put on each listener's queue in memory (instead of one channel per
    socket, each with its own receive loop, dispatch and Redis member).

    Per event loop (see ``group_fanout``). A group is joined when its first
    listener comes and left when its last one goes; joins and leaves of one group
    are serialised, so a leave never removes a membership a later join relies on.
    Messages of one group keep their order; a listener gets only the messages of
    the groups it joined, of the type it asked for.
    """

    def __init__(self, layer) -> None:
        self.layer = layer
        self.groups: dict[str, _Group] = {}
        self._renewer: asyncio.Task | None = None

    async def join(self, group: str, kind: str, queue: asyncio.Queue) -> None:
        """Put messages of type ``kind`` sent to ``group`` on ``queue`` from now on
        (the membership is in the layer when this returns)."""
        entry = self.groups.get(group)
        if entry is None:
            entry = self.groups[group] = _Group(group)
        entry.users += 1
        try:
            async with entry.lock:
                if entry.channel is None:
                    channel = await self.layer.new_channel()
                    try:
                        await self.layer.group_add(group, channel)
                    except BaseException:  # cancelled: the member may be in
                        with contextlib.suppress(Exception):
                            await asyncio.shield(
                                self.layer.group_discard(group, channel)
                            )
                        raise
                    entry.channel = channel
                    entry.task = asyncio.create_task(self._receive(entry, channel))
                    self._renew_later()
                entry.listeners[queue] = kind
        except BaseException:
            entry.listeners.pop(queue, None)
            self._forget(entry)
            raise

    async def leave(self, group: str, queue: asyncio.Queue) -> None:
        """Stop putting ``group``'s messages on ``queue``; the process leaves the
        group with its last listener."""
        entry = self.groups.get(group)
        if entry is None or queue not in entry.listeners:
            return
        try:
            async with entry.lock:
                entry.listeners.pop(queue, None)
                if entry.listeners or entry.channel is None:
                    return
                channel, task = entry.channel, entry.task
                entry.channel = entry.task = None
                try:
                    await self.layer.group_discard(group, channel)
                finally:
                    task.cancel()
        finally:
            self._forget(entry)

    def _forget(self, entry: _Group) -> None:
        entry.users -= 1
        if entry.users == 0 and self.groups.get(entry.name) is entry:
            del self.groups[entry.name]
        if not self.groups and self._renewer is not None:
            self._renewer.cancel()
            self._renewer = None

    async def _receive(self, entry: _Group, channel: str) -> None:
        while True:
            try:
                message = await self.layer.receive(channel)
            except asyncio.CancelledError:
                raise
            except Exception:  # Redis gone: the membership stays, try again
                logger.exception("Reading group %s failed", entry.name)
                await asyncio.sleep(RETRY_SECONDS)
                continue
            kind = message.get("type")
            for queue, wanted in list(entry.listeners.items()):
                if wanted == kind:
                    queue.put_nowait(message)

    def _renew_later(self) -> None:
        if self._renewer is None:
            self._renewer = asyncio.create_task(self._renew())

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(RENEW_SECONDS)
            for entry in list(self.groups.values()):
                channel = entry.channel
                if channel is None:
                    continue
                try:
                    await self.layer.group_add(entry.name, channel)
                except Exception:
                    logger.exception("Renewing group %s failed", entry.name)


_FANOUTS: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict]" = (
    weakref.WeakKeyDictionary()
)


def group_fanout(layer) -> GroupFanout:
    """The process's fan-out for ``layer`` on the running event loop."""
    per_loop = _FANOUTS.setdefault(asyncio.get_running_loop(), {})
    fanout = per_loop.get(id(layer))
    if fanout is None or fanout.layer is not layer:
        fanout = per_loop[id(layer)] = GroupFanout(layer)
    return fanout
