"""HTTP details the cache reads as Django would: headers, HTTPS, the Host,
JSON media types, bodies; and the headers it adds (Cache-Control, Vary, tags).
"""

import re
import time

from django.conf import settings
from django.http.request import split_domain_port, validate_host
from django.utils.http import parse_header_parameters

from schema.response_cache.keys import _remember
from shop.core.cdn import header_tag
from shop.core.clients import client_ip, client_key

PATH = "/graphql/"
# The most of a POST body read before deciding; a longer one goes to Django.
BODY_LIMIT = 256 * 1024
_STREAM_ACCEPTS = ("multipart/mixed", "text/event-stream")


# ---------------------------------------------------------------- HTTP details


def _is_json(content_type: str) -> bool:
    """Whether the media type is application/json (parameters and case aside),
    read as Django reads it: ``text/plain; x=application/json`` is not, and
    Django answers it 400."""
    try:
        media_type, _ = parse_header_parameters(content_type)
    except ValueError:
        return False
    return media_type == "application/json"


def _client(scope, headers: dict[str, str]) -> str:
    """Whom a kept entry is counted against (shop.core.clients)."""
    connection = scope.get("client")
    return client_key(
        client_ip(
            remote_addr=connection[0] if connection else None,
            forwarded_for=headers.get("x-forwarded-for"),
        )
    )


def _headers(scope) -> dict[str, str]:
    """Request headers as Django's META sees them: ``_`` and ``-`` alike, repeated
    ones joined with commas."""
    found: dict[str, str] = {}
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.decode("latin-1").lower().replace("_", "-")
        value = raw_value.decode("latin-1")
        found[name] = f"{found[name]},{value}" if name in found else value
    return found


def _is_secure(scope, headers: dict[str, str]) -> bool:
    """HttpRequest.is_secure(): the proxy's header when configured, else the
    connection's scheme."""
    proxy = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy:
        meta_name, secure_value = proxy
        name = meta_name.removeprefix("HTTP_").lower().replace("_", "-")
        value = headers.get(name)
        if value is not None:
            return value.split(",", 1)[0].strip() == secure_value
    return scope.get("scheme") == "https"


def _redirected(secure: bool) -> bool:
    """Whether SecurityMiddleware would redirect this request to HTTPS."""
    if secure or not getattr(settings, "SECURE_SSL_REDIRECT", False):
        return False
    path = PATH.lstrip("/")
    return not any(
        re.search(pattern, path)
        for pattern in getattr(settings, "SECURE_REDIRECT_EXEMPT", [])
    )


_hosts: dict[tuple[str, tuple], bool] = {}


def _host_allowed(scope, headers: dict[str, str]) -> bool:
    """HttpRequest.get_host() would not raise DisallowedHost."""
    if settings.USE_X_FORWARDED_HOST and "x-forwarded-host" in headers:
        host = headers["x-forwarded-host"]
    else:
        host = headers.get("host")
    if not host:
        return False  # Django falls back to the server's name: let it decide
    allowed = tuple(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not allowed:
        allowed = (".localhost", "127.0.0.1", "[::1]")
    found = _hosts.get((host, allowed))
    if found is None:
        domain, _port = split_domain_port(host)
        found = bool(domain) and validate_host(domain, allowed)
        _remember(_hosts, (host, allowed), found)
    return found


def _vary(values: list[str], *, authorization: bool) -> bytes | None:
    names = [part.strip() for value in values for part in value.split(",")]
    names = [name for name in names if name]
    if (
        authorization
        and "*" not in names
        and "authorization" not in {name.lower() for name in names}
    ):
        names.append("Authorization")
    return ", ".join(names).encode("latin-1") if names else None


def _tag_headers(tags: list[str]) -> list[tuple[bytes, bytes]]:
    """``Surrogate-Key`` and ``Cache-Tag`` naming the answer's tags, for a CDN
    that purges by them (GRAPHQL_CACHE_TAG_HEADERS; shop.core.cdn)."""
    if not settings.GRAPHQL_CACHE_TAG_HEADERS or not tags:
        return []
    names = [header_tag(tag) for tag in tags]
    return [
        (b"surrogate-key", " ".join(names).encode()),
        (b"cache-tag", ",".join(names).encode()),
    ]


def _max_age_header(until: float | None = None) -> bytes:
    """GRAPHQL_CACHE_MAX_AGE, or less when the answer's time boundary comes
    sooner."""
    max_age = settings.GRAPHQL_CACHE_MAX_AGE
    if until is not None:
        max_age = min(max_age, int(until - time.time()))
    return f"public, max-age={max_age}".encode() if max_age > 0 else b"no-cache"


_PRIVATE = b"private, no-store"


def _decorated_start(
    message: dict, *, cache_control: bytes | None, vary_authorization: bool, x_cache
) -> dict:
    """The response start with the cache's headers: Cache-Control (unless Django
    set one), Vary with Authorization, X-Cache."""
    headers = list(message.get("headers", ()))
    vary = [v.decode("latin-1") for n, v in headers if n.lower() == b"vary"]
    has_cache_control = any(n.lower() == b"cache-control" for n, _ in headers)
    headers = [(n, v) for n, v in headers if n.lower() != b"vary"]
    merged = _vary(vary, authorization=vary_authorization)
    if merged is not None:
        headers.append((b"vary", merged))
    if cache_control is not None and not has_cache_control:
        headers.append((b"cache-control", cache_control))
    if x_cache is not None:
        headers.append((b"x-cache", x_cache))
    return {**message, "headers": headers}


async def _read_body(receive) -> tuple[list[dict], bytes | None]:
    """The request's body messages as received, and the body; None for the body
    when it is longer than BODY_LIMIT or the client left."""
    messages, chunks, size = [], [], 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, None
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if size > BODY_LIMIT:
            return messages, None
        if not message.get("more_body", False):
            return messages, b"".join(chunks)


def _replaying(messages: list[dict], receive):
    pending = list(messages)

    async def replay():
        if pending:
            return pending.pop(0)
        return await receive()

    return replay


class _Body:
    """The request's receive, and its body once read (then replayed to Django)."""

    def __init__(self, receive) -> None:
        self.receive = receive

    async def read(self) -> bytes | None:
        messages, body = await _read_body(self.receive)
        self.receive = _replaying(messages, self.receive)
        return body
