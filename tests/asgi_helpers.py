"""One HTTP request through an ASGI application (shop.asgi.application: the
response cache in front of Django), as a server hands it over."""

import asyncio
import json
from dataclasses import dataclass

from asgiref.sync import async_to_sync
from django.core import signals
from django.db import close_old_connections


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict:
        return json.loads(self.body)

    @property
    def x_cache(self) -> str | None:
        return self.headers.get("x-cache")


def _raw(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


def asgi_call(
    app,
    method: str,
    *,
    query_string: bytes = b"",
    body: bytes = b"",
    headers: dict[str, str | bytes] | list[tuple[bytes, bytes]] | None = None,
    scheme: str = "http",
    path: str = "/graphql/",
    client: str = "127.0.0.1",
) -> Response:
    """One HTTP request through the ASGI application ``app``. ``headers`` as a
    dict get a ``host: localhost`` unless they name one; as a list of byte pairs
    they are sent exactly as given (any bytes a server lets through)."""
    if isinstance(headers, list):
        raw_headers = list(headers)
    else:
        merged = {"host": "localhost", **(headers or {})}
        raw_headers = [(k.lower().encode(), _raw(v)) for k, v in merged.items()]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": scheme,
        "path": path,
        "raw_path": path.encode(),
        "query_string": query_string,
        "root_path": "",
        "headers": raw_headers,
        "client": (client, 50000),
        "server": ("127.0.0.1", 8000),
    }

    async def run() -> list[dict]:
        inbox = [{"type": "http.request", "body": body, "more_body": False}]
        sent: list[dict] = []

        async def receive():
            if inbox:
                return inbox.pop(0)
            await asyncio.Event().wait()  # the client stays until the answer

        async def send(message):
            sent.append(message)

        await app(scope, receive, send)
        return sent

    # Django's handler closes the thread's connection around each request, which
    # would end the test's transaction: not here, as in Django's test client.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        sent = async_to_sync(run)()
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)
    start = next(m for m in sent if m["type"] == "http.response.start")
    found: dict[str, str] = {}
    for name, value in start["headers"]:
        key = name.decode().lower()
        text = value.decode("latin-1")
        found[key] = f"{found[key]}, {text}" if key in found else text
    content = b"".join(
        m.get("body", b"") for m in sent if m["type"] == "http.response.body"
    )
    return Response(start["status"], found, content)
