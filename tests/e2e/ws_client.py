"""A graphql-transport-ws client for tests, over the ``websockets`` package.

What a storefront's ``GraphQLWsLink`` does, and nothing clever: open a socket with
the subprotocol, send ``connection_init`` (with ``{"authorization": "Bearer ..."}``
when signed in), then ``subscribe`` messages; answer the server's pings. Every
message the server sends for an operation is kept, in order, so a test can assert
exactly what arrived (and that nothing more did).

Two faces:

- ``AsyncConnection`` / ``AsyncOperation`` for ``async`` code;
- ``Connection`` / ``Operation``, the same calls blocking, for synchronous tests
  (``django_db(transaction=True)`` tests whose ORM calls must stay synchronous).
  They run the async ones on one event loop in a background thread.

The legacy ``graphql-ws`` protocol (``start``/``data``/``stop``) is spoken too, so
the same test can follow a subscription over either.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import threading
import time
from collections.abc import AsyncIterator, Coroutine
from typing import Any, TypeVar

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"

# Close codes of the graphql-transport-ws protocol (and WebSocket's own).
FORBIDDEN = 4403
ABNORMAL = 1006

T = TypeVar("T")


def ws_url(base: str) -> str:
    """ws://host:port/graphql/ for a server's http://host:port base URL."""
    return base.replace("http://", "ws://", 1).replace("https://", "wss://", 1) + (
        "/graphql/"
    )


class Closed(Exception):
    """The socket is closed: by the server with ``code`` and ``reason``, or
    dropped (1006)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"socket closed: {code} {reason!r}")
        self.code = code
        self.reason = reason


class OperationError(Exception):
    """The server answered an operation with an ``error`` message."""

    def __init__(self, errors: list[dict]) -> None:
        super().__init__(json.dumps(errors))
        self.errors = errors

    def codes(self) -> list[str | None]:
        return [e.get("extensions", {}).get("code") for e in self.errors]


class OperationComplete(Exception):
    """The server completed the operation: no more events will come."""


_CLOSED = object()  # the queue entry after the last one, once the socket closed


class AsyncOperation:
    """One subscribe message and everything the server sends for it.

    Each message is a dict ``{"type": "next" | "error" | "complete", "payload": ...}``
    (legacy ``data`` arrives as ``next``).
    """

    def __init__(self, connection: AsyncConnection, operation_id: str) -> None:
        self.connection = connection
        self.id = operation_id
        self.received: list[dict] = []  # every message so far, in order
        self.ended = False  # complete or error arrived
        self._queue: asyncio.Queue = asyncio.Queue()

    def _deliver(self, message: Any) -> None:
        if message is not _CLOSED:
            self.received.append(message)
            if message["type"] in ("complete", "error"):
                self.ended = True
        self._queue.put_nowait(message)

    async def next_message(self, timeout: float) -> dict:
        """The next message for this operation; ``TimeoutError`` if none comes
        within ``timeout`` seconds, ``Closed`` if the socket closes first."""
        message = await asyncio.wait_for(self._queue.get(), timeout)
        if message is _CLOSED:
            self._queue.put_nowait(_CLOSED)  # and for every later call
            raise self.connection.closed_error()
        return message

    async def next_event(self, timeout: float) -> dict:
        """The payload (``{"data": ..., "errors": ...}``) of the next ``next``
        message; ``OperationError`` or ``OperationComplete`` if the operation
        ends instead."""
        message = await self.next_message(timeout)
        if message["type"] == "next":
            return message["payload"]
        if message["type"] == "error":
            raise OperationError(message.get("payload") or [])
        raise OperationComplete(self.id)

    async def until_end(self, timeout: float) -> list[dict]:
        """Every message up to and including ``complete`` or ``error``."""
        deadline = time.monotonic() + timeout
        messages = []
        while True:
            message = await self.next_message(max(0.0, deadline - time.monotonic()))
            messages.append(message)
            if message["type"] in ("complete", "error"):
                return messages

    async def quiet(self, seconds: float) -> list[dict]:
        """Wait ``seconds``; the messages that arrived meanwhile (a test asserts
        this is ``[]`` to show an event came once). Stops early if the socket
        closes."""
        messages = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                messages.append(await self.next_message(left))
            except TimeoutError:
                break
            except Closed:
                break
        return messages

    async def stop(self) -> None:
        """Unsubscribe (``complete``; legacy ``stop``)."""
        stop = "stop" if self.connection.protocol == LEGACY_WS else "complete"
        await self.connection.send({"id": self.id, "type": stop})

    async def events(self, timeout: float) -> AsyncIterator[dict]:
        """The payloads of ``next`` messages until the operation completes; each
        must arrive within ``timeout`` seconds."""
        while True:
            try:
                yield await self.next_event(timeout)
            except OperationComplete:
                return

    def __aiter__(self) -> AsyncIterator[dict]:
        return self.events(timeout=30)


class AsyncConnection:
    """One WebSocket to /graphql/, past ``connection_init``."""

    def __init__(self, socket: ClientConnection, protocol: str) -> None:
        self.socket = socket
        self.protocol = protocol
        self.operations: dict[str, AsyncOperation] = {}
        self.unexpected: list[dict] = []  # messages for no operation of ours
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self._ids = itertools.count(1)
        self._acked: asyncio.Future = asyncio.get_running_loop().create_future()
        self._pongs: asyncio.Queue = asyncio.Queue()
        self._closed = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def connect(
        cls,
        url: str,
        token: str | None = None,
        *,
        payload: dict | None = None,
        protocol: str = TRANSPORT_WS,
        timeout: float = 10,
    ) -> AsyncConnection:
        """Open ``url`` and sign in with ``token`` (an access token; None:
        anonymous) or send ``payload`` as given. Returns once ``connection_ack``
        arrives; raises ``Closed`` if the server closes the socket instead."""
        if payload is None:
            payload = {"authorization": f"Bearer {token}"} if token else {}
        # No client-side keep-alive pings: an idle socket must stay open on the
        # server's merits (it pings every 20 s; websockets answers those itself).
        socket = await connect(
            url, subprotocols=[protocol], open_timeout=timeout, ping_interval=None
        )
        assert socket.subprotocol == protocol, socket.subprotocol
        connection = cls(socket, protocol)
        await connection.send({"type": "connection_init", "payload": payload})
        await connection._wait_ack(timeout)
        return connection

    async def _wait_ack(self, timeout: float) -> None:
        closed = asyncio.ensure_future(self._closed.wait())
        try:
            done, _ = await asyncio.wait(
                [self._acked, closed],
                timeout=timeout,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            closed.cancel()
        if self._acked in done:
            return
        if self._closed.is_set():
            raise self.closed_error()
        await self.close()
        raise TimeoutError(f"no connection_ack within {timeout} s")

    async def _read(self) -> None:
        try:
            async for raw in self.socket:
                self._dispatch(json.loads(raw))
        except ConnectionClosed:
            pass
        finally:
            # websockets: the code the server sent, or 1006 if it sent none
            self.close_code = self.socket.close_code or ABNORMAL
            self.close_reason = self.socket.close_reason or ""
            self._closed.set()
            for operation in self.operations.values():
                operation._deliver(_CLOSED)

    def _dispatch(self, message: dict) -> None:
        kind = message.get("type")
        if kind == "connection_ack":
            if not self._acked.done():
                self._acked.set_result(message.get("payload"))
        elif kind == "ping":
            asyncio.ensure_future(self.send({"type": "pong"}))
        elif kind == "pong":
            self._pongs.put_nowait(message)
        elif kind == "ka":  # legacy keep-alive
            pass
        elif message.get("id") in self.operations:
            if kind == "data":  # legacy
                message = {**message, "type": "next"}
            self.operations[message["id"]]._deliver(message)
        else:
            self.unexpected.append(message)

    def closed_error(self) -> Closed:
        return Closed(self.close_code or ABNORMAL, self.close_reason or "")

    @property
    def is_closed(self) -> bool:
        return self._closed.is_set()

    async def send(self, message: dict) -> None:
        try:
            await self.socket.send(json.dumps(message))
        except ConnectionClosed:
            await self._closed.wait()
            raise self.closed_error() from None

    async def subscribe(
        self, query: str, variables: dict | None = None
    ) -> AsyncOperation:
        """Start an operation (a subscription, or a query or mutation: one
        ``next`` then ``complete``); its messages collect on the returned handle."""
        if self.is_closed:
            raise self.closed_error()
        operation = AsyncOperation(self, str(next(self._ids)))
        self.operations[operation.id] = operation
        start = "start" if self.protocol == LEGACY_WS else "subscribe"
        payload = {"query": query, "variables": variables or {}}
        await self.send({"id": operation.id, "type": start, "payload": payload})
        return operation

    async def execute(
        self, query: str, variables: dict | None = None, timeout: float = 10
    ) -> dict:
        """Run a query or mutation over the socket: the payload of its one
        ``next`` (``{"data": ..., "errors": ...}``), once ``complete`` followed.
        An ``error`` message raises ``OperationError``."""
        operation = await self.subscribe(query, variables)
        messages = await operation.until_end(timeout)
        if messages[-1]["type"] == "error":
            raise OperationError(messages[-1].get("payload") or [])
        results = [m["payload"] for m in messages if m["type"] == "next"]
        assert len(results) == 1, messages
        return results[0]

    async def ping(self, timeout: float = 5) -> None:
        """A protocol ping (graphql-transport-ws); returns when the pong arrives."""
        await self.send({"type": "ping"})
        await asyncio.wait_for(self._pongs.get(), timeout)

    async def wait_closed(self, timeout: float) -> tuple[int, str]:
        """``(code, reason)`` once the server closes the socket; ``TimeoutError``
        if it is still open after ``timeout`` seconds."""
        await asyncio.wait_for(self._closed.wait(), timeout)
        return self.close_code, self.close_reason

    async def close(self) -> None:
        await self.socket.close()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader

    async def __aenter__(self) -> AsyncConnection:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()


# ---------------------------------------------------------------- blocking face


class _Loop:
    """One event loop in a daemon thread, shared by every blocking connection."""

    _lock = threading.Lock()
    _loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def run(cls, coroutine: Coroutine[Any, Any, T], timeout: float | None) -> T:
        with cls._lock:
            if cls._loop is None:
                cls._loop = asyncio.new_event_loop()
                threading.Thread(
                    target=cls._loop.run_forever, name="ws-client", daemon=True
                ).start()
        future = asyncio.run_coroutine_threadsafe(coroutine, cls._loop)
        # The coroutine keeps its own deadlines; this one only guards the test.
        return future.result(None if timeout is None else timeout + 10)


def run(coroutine: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
    """Run ``coroutine`` on the blocking connections' event loop (so it may mix
    with them) and wait for its result."""
    return _Loop.run(coroutine, timeout)


class Operation:
    """``AsyncOperation``'s calls, blocking."""

    def __init__(self, operation: AsyncOperation) -> None:
        self.aio = operation

    @property
    def id(self) -> str:
        return self.aio.id

    @property
    def received(self) -> list[dict]:
        return list(self.aio.received)

    def next_message(self, timeout: float = 10) -> dict:
        return _Loop.run(self.aio.next_message(timeout), timeout)

    def next_event(self, timeout: float = 10) -> dict:
        return _Loop.run(self.aio.next_event(timeout), timeout)

    def until_end(self, timeout: float = 10) -> list[dict]:
        return _Loop.run(self.aio.until_end(timeout), timeout)

    def quiet(self, seconds: float) -> list[dict]:
        return _Loop.run(self.aio.quiet(seconds), seconds)

    def stop(self) -> None:
        _Loop.run(self.aio.stop(), 10)


class Connection:
    """``AsyncConnection``'s calls, blocking; a context manager that closes it."""

    def __init__(self, connection: AsyncConnection) -> None:
        self.aio = connection

    @classmethod
    def connect(
        cls,
        url: str,
        token: str | None = None,
        *,
        payload: dict | None = None,
        protocol: str = TRANSPORT_WS,
        timeout: float = 10,
    ) -> Connection:
        connection = AsyncConnection.connect(
            url, token, payload=payload, protocol=protocol, timeout=timeout
        )
        return cls(_Loop.run(connection, timeout))

    @property
    def close_code(self) -> int | None:
        return self.aio.close_code

    @property
    def close_reason(self) -> str | None:
        return self.aio.close_reason

    @property
    def is_closed(self) -> bool:
        return self.aio.is_closed

    def subscribe(self, query: str, **variables: Any) -> Operation:
        return Operation(_Loop.run(self.aio.subscribe(query, variables), 10))

    def execute(self, query: str, timeout: float = 10, **variables: Any) -> dict:
        return _Loop.run(self.aio.execute(query, variables, timeout), timeout)

    def ping(self, timeout: float = 5) -> None:
        _Loop.run(self.aio.ping(timeout), timeout)

    def wait_closed(self, timeout: float = 10) -> tuple[int, str]:
        return _Loop.run(self.aio.wait_closed(timeout), timeout)

    def close(self) -> None:
        _Loop.run(self.aio.close(), 15)

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
