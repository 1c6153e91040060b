"""Redis access for the cache, from the event loop: one shared pipelined
connection per loop (``SharedRedisConnection``), or redis-py over fakeredis in the
embedded mode.
"""

import asyncio
import ssl
from collections import deque

from redis.asyncio.connection import SSLConnection as AsyncSSLConnection
from redis.connection import SSLConnection, parse_url

# ---------------------------------------------------------------- Redis


class RedisReplyError(Exception):
    """Redis answered a command with an error."""


def _command(*parts: bytes | str) -> bytes:
    encoded = [p.encode() if isinstance(p, str) else p for p in parts]
    return b"".join(
        [f"*{len(encoded)}\r\n".encode()]
        + [b"$%d\r\n%s\r\n" % (len(part), part) for part in encoded]
    )


async def _reply(reader: asyncio.StreamReader):
    """One RESP2 reply: bytes, None, an int, a list, or a RedisReplyError."""
    line = await reader.readline()
    if not line.endswith(b"\r\n"):
        raise ConnectionError("Redis closed the connection")
    kind, rest = line[:1], line[1:-2]
    if kind == b"$":
        size = int(rest)
        return None if size < 0 else (await reader.readexactly(size + 2))[:-2]
    if kind == b"*":
        size = int(rest)
        return None if size < 0 else [await _reply(reader) for _ in range(size)]
    if kind == b"+":
        return rest
    if kind == b":":
        return int(rest)
    if kind == b"-":
        return RedisReplyError(rest.decode(errors="replace"))
    raise ConnectionError(f"Unexpected reply from Redis: {line[:20]!r}")


class SharedRedisConnection:
    """One Redis connection for every request of an event loop.

    Redis answers a connection's commands in the order it received them, so
    concurrent requests write their commands as they come and each waits for its
    own reply, in order (a reader task hands them out): no pool, no per-command
    checkout, one socket however many requests are in flight. A request that gives
    up waiting (a timeout) leaves its slot, so later replies still reach their
    owners. A broken connection fails every waiting request and is opened again
    by the next one.
    """

    def __init__(self, url: str) -> None:
        self.options = parse_url(url)
        self._writer: asyncio.StreamWriter | None = None
        self._waiting: deque[asyncio.Future] = deque()
        self._opening: asyncio.Lock | None = None
        self._tls_context: ssl.SSLContext | None = None

    def _tls(self) -> ssl.SSLContext | None:
        """For ``rediss://``, the TLS context redis-py (django-redis, the rest of
        the shop) makes of the URL's ``ssl_*`` options: ``ssl_cert_reqs``,
        ``ssl_ca_certs``, ``ssl_ca_path``, ``ssl_certfile``, ``ssl_keyfile``,
        ``ssl_check_hostname``... with redis-py's defaults (the certificate and the
        host name verified)."""
        if self.options.get("connection_class") is not SSLConnection:
            return None
        if self._tls_context is None:
            tls_options = {
                name: value
                for name, value in self.options.items()
                if name.startswith("ssl_")
            }
            self._tls_context = AsyncSSLConnection(**tls_options).ssl_context.get()
        return self._tls_context

    async def execute(self, *commands: tuple) -> list:
        """Send the commands at once; their replies, in order (a RedisReplyError
        is raised)."""
        writer = self._writer
        if writer is None or writer.is_closing():
            writer = await self._open()
        loop = asyncio.get_running_loop()
        futures = []
        for _ in commands:
            future = loop.create_future()
            self._waiting.append(future)
            futures.append(future)
        writer.write(b"".join(_command(*command) for command in commands))
        if writer.transport.get_write_buffer_size() > 1 << 20:
            await writer.drain()
        replies = [await future for future in futures]
        for reply in replies:
            if isinstance(reply, RedisReplyError):
                raise reply
        return replies

    async def _open(self) -> asyncio.StreamWriter:
        if self._opening is None:
            self._opening = asyncio.Lock()
        async with self._opening:
            if self._writer is not None and not self._writer.is_closing():
                return self._writer
            options = self.options
            if "path" in options:
                reader, writer = await asyncio.open_unix_connection(options["path"])
            else:
                reader, writer = await asyncio.open_connection(
                    options["host"], options.get("port", 6379), ssl=self._tls()
                )
            handshake = []
            if options.get("password"):
                handshake.append(
                    ("AUTH", options["username"], options["password"])
                    if options.get("username")
                    else ("AUTH", options["password"])
                )
            if options.get("db"):
                handshake.append(("SELECT", str(options["db"])))
            if handshake:
                writer.write(b"".join(_command(*command) for command in handshake))
                for _ in handshake:
                    reply = await _reply(reader)
                    if isinstance(reply, RedisReplyError):
                        writer.close()
                        raise reply
            self._writer = writer
            asyncio.get_running_loop().create_task(self._read(reader, writer))
            return writer

    async def _read(self, reader, writer) -> None:
        try:
            while True:
                reply = await _reply(reader)
                future = self._waiting.popleft()
                if not future.done():  # its request may have stopped waiting
                    future.set_result(reply)
        except BaseException as error:
            self._broken(writer, error)
            if isinstance(error, asyncio.CancelledError):
                raise

    def _broken(self, writer, error: BaseException) -> None:
        writer.close()
        if self._writer is writer:
            self._writer = None
        waiting, self._waiting = self._waiting, deque()
        for future in waiting:
            if not future.done():
                future.set_exception(
                    ConnectionError(f"Redis connection lost: {error!r}")
                )

    def close(self) -> None:
        """Close the connection; waiting requests fail (and a new one opens)."""
        if self._writer is not None:
            self._broken(self._writer, ConnectionError("closed"))


class EmbeddedRedis:
    """The same interface over redis-py with fakeredis (embedded mode, where the
    in-process server django-redis uses is reachable only through fakeredis)."""

    def __init__(self, url: str) -> None:
        import fakeredis
        import redis.asyncio

        self.client = redis.asyncio.Redis.from_url(
            url, connection_class=fakeredis.FakeAsyncRedisConnection
        )

    async def execute(self, *commands: tuple) -> list:
        import redis.exceptions

        try:
            async with self.client.pipeline(transaction=False) as pipe:
                for command in commands:
                    pipe.execute_command(*command)
                return await pipe.execute()
        except redis.exceptions.NoScriptError as error:
            raise RedisReplyError(f"NOSCRIPT {error}") from error
        except redis.exceptions.ResponseError as error:
            raise RedisReplyError(str(error)) from error

    def close(self) -> None:
        pass
