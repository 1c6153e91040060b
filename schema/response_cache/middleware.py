"""The ASGI middleware: answers a request from Redis, or lets Django answer
it and keeps the answer with the tags of what Django read.
"""

import asyncio
import logging
import os
import time
from dataclasses import dataclass

from django.conf import settings
from prometheus_client import Counter

from schema.response_cache.entries import (
    _LOOKUP,
    _LOOKUP_SHA,
    _STORE,
    _STORE_SHA,
    _evaluate,
    _Found,
    _Hit,
    _hit_of,
    _registration,
    _Store,
    entry_encode,
    replica_lag_seconds,
)
from schema.response_cache.http import (
    _PRIVATE,
    _STREAM_ACCEPTS,
    PATH,
    _Body,
    _client,
    _decorated_start,
    _headers,
    _host_allowed,
    _is_json,
    _is_secure,
    _max_age_header,
    _redirected,
    _tag_headers,
)
from schema.response_cache.keys import _budget_key, _keyed, _request_of
from schema.response_cache.redis import EmbeddedRedis, RedisConnection
from shop.catalog.cache_tags import (
    answer_tags,
    answer_until,
    listen_in_background,
    start_collecting,
    stop_collecting,
    tag_key_prefix,
)
from shop.core import metrics
from shop.core.logs import LogScope, enter_scope, exit_scope, sane_request_id
from shop.core.persisted_queries import (
    ALLOWED_PREFIX,
    AUTO_PREFIX,
    forget_in_process,
)

logger = logging.getLogger("schema.response_cache")
request_logger = logging.getLogger("shop.request")

# Seconds the cache is skipped after Redis failed to answer.
OUTAGE_SECONDS = 5.0
# Seconds one Redis call may take before the cache is skipped for this request.
REDIS_TIMEOUT = 0.5


RESPONSE_CACHE = Counter(
    "shop_graphql_response_cache",
    "Cacheable GraphQL requests by outcome: hit (answered from Redis), miss "
    "(answered by Django), stored (a miss kept for the next ones), over_budget "
    "(a miss not kept: its client, or all clients, made the cache keep "
    "GRAPHQL_RESPONSE_CACHE_CLIENT_BYTES or _TOTAL_BYTES this window), "
    "unavailable (Redis did not answer).",
    ["outcome"],
)


def _count(outcome: str) -> None:
    if settings.METRICS_ENABLED:
        RESPONSE_CACHE.labels(outcome).inc()


_hit_series: dict[tuple[str, str | None], tuple] = {}


def _hit_metrics(method: str, operation: str | None) -> tuple:
    """What a hit counts, as Django's answers are counted (MetricsMiddleware,
    schema.metrics): the request, its duration, the GraphQL operation (not timed:
    it did not run), and the hit. The labelled series are looked up once."""
    found = _hit_series.get((method, operation))
    if found is None:
        found = (
            metrics.HTTP_REQUESTS.labels(method, PATH, "200"),
            metrics.HTTP_DURATION.labels(method, PATH),
            metrics.GRAPHQL_OPERATIONS.labels(
                "query", metrics.operation_label(operation), "ok"
            ),
            RESPONSE_CACHE.labels("hit"),
        )
        if len(_hit_series) < 2 * metrics.MAX_OPERATION_NAMES:
            _hit_series[(method, operation)] = found
    return found


_UNTOUCHED = object()  # Django answers the request as it came
_NOT_CACHED = object()  # Django answers a GET, marked private


# The GraphQL-over-HTTP media type (Apollo Client 4 asks for it first).
GRAPHQL_RESPONSE = b"application/graphql-response+json"


@dataclass(frozen=True, slots=True)
class _Miss:
    store: _Store | None  # None: the answer is not kept


# ---------------------------------------------------------------- the middleware


class ResponseCache:
    """ASGI middleware: see the module's docstring."""

    def __init__(self, app) -> None:
        self.app = app
        self._client: RedisConnection | None = None
        self._client_loop = None
        self._client_url = None
        self._skip_until = 0.0

    # ---- Redis

    def _redis(self) -> RedisConnection | None:
        """The Redis connection of the running event loop, or None while Redis
        is taken for down or the cache is off."""
        if not settings.GRAPHQL_RESPONSE_CACHE:
            return None
        loop = asyncio.get_running_loop()
        if self._skip_until and loop.time() < self._skip_until:
            return None
        url = settings.CACHES["default"]["LOCATION"]
        if (
            self._client is None
            or self._client_loop is not loop
            or (self._client_url != url)
        ):
            if self._client is not None and self._client_loop is loop:
                self._client.close()
            self._client = (
                EmbeddedRedis(url) if settings.EMBEDDED_REDIS else RedisConnection(url)
            )
            if settings.GRAPHQL_RESPONSE_CACHE_LISTENER:
                # Writes from outside Django reach Redis through it.
                listen_in_background()
            self._client_loop = loop
            self._client_url = url
        return self._client

    def _redis_failed(self) -> None:
        loop = asyncio.get_running_loop()
        if loop.time() >= self._skip_until:
            logger.warning(
                "The response cache is skipped for %s s: Redis does not answer",
                OUTAGE_SECONDS,
                exc_info=True,
            )
        self._skip_until = loop.time() + OUTAGE_SECONDS
        if self._client is not None:
            self._client.close()  # a timed-out connection is not trusted again
        _count("unavailable")

    async def _lookup(self, key: str, checks: tuple[str, ...]) -> "_Found | None":
        """In one round trip (``_LOOKUP``): the entry if it is still valid,
        whether any of ``checks`` (registration keys) exists, and Redis's clock;
        None if Redis does not answer."""
        client = self._redis()
        if client is None:
            return None
        try:
            async with asyncio.timeout(REDIS_TIMEOUT):
                entry, registered, seconds, microseconds, *tags = await _evaluate(
                    client, _LOOKUP, _LOOKUP_SHA, [key, *checks], [tag_key_prefix()]
                )
        except Exception:
            self._redis_failed()
            return None
        return _Found(
            entry=entry,
            registered=int(registered) > 0,
            started=int(seconds) * 1_000_000 + int(microseconds),
            tags=tags[0].decode().split() if tags else [],
        )

    async def _store(
        self, store: "_Store", value: bytes, tags: list[str], until: float | None
    ) -> None:
        """Keep ``value`` under ``store.key`` with ``tags`` if none of them changed
        since the request started, its document is still registered as the
        request needed and the budgets allow (``_STORE``)."""
        ttl_ms = settings.GRAPHQL_RESPONSE_CACHE_TTL * 1000
        if until is not None:
            ttl_ms = min(ttl_ms, int((until - time.time()) * 1000))
            if ttl_ms <= 0:
                return  # past its boundary already
        client = self._redis()
        if client is None:
            return
        document_hash = store.document_hash
        try:
            async with asyncio.timeout(REDIS_TIMEOUT):
                kept = await _evaluate(
                    client,
                    _STORE,
                    _STORE_SHA,
                    [
                        store.key,
                        ALLOWED_PREFIX + document_hash,
                        AUTO_PREFIX + document_hash,
                        _budget_key("client:" + store.client),
                        _budget_key("total"),
                    ],
                    [
                        value,
                        str(settings.GRAPHQL_RESPONSE_CACHE_TTL),
                        str(settings.GRAPHQL_RESPONSE_CACHE_CLIENT_BYTES),
                        str(settings.GRAPHQL_RESPONSE_CACHE_TOTAL_BYTES),
                        store.requirement,
                        tag_key_prefix(),
                        str(store.started),
                        str(round(store.lag * 1_000_000)),
                        os.urandom(6).hex(),
                        " ".join(tags),
                        str(ttl_ms),
                    ],
                )
        except Exception:
            self._redis_failed()
            return
        if kept == 1:
            _count("stored")
        elif kept == 0:
            forget_in_process(document_hash)
        elif kept == -1:
            _count("over_budget")
        else:
            _count("changed")

    # ---- the request

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH:
            return await self.app(scope, receive, send)
        method = scope["method"]
        if method not in ("GET", "POST"):
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        body = _Body(receive)
        try:
            plan = await self._plan(scope, body, is_get=method == "GET")
        except Exception:
            # A request the cache cannot read is Django's to answer, as if the
            # cache were not there (a bug here must not become a 500).
            logger.exception("The response cache could not read a request")
            plan = _UNTOUCHED
        receive = body.receive
        if plan is _UNTOUCHED:
            return await self.app(scope, receive, send)
        if plan is _NOT_CACHED:
            return await self._private(scope, receive, send)
        if isinstance(plan, _Hit):
            accept = dict(scope.get("headers") or ()).get(b"accept", b"")
            return await self._hit(
                send,
                method,
                plan,
                started=started,
                graphql_response=GRAPHQL_RESPONSE in accept,
            )
        return await self._miss(
            scope, receive, send, is_get=method == "GET", store=plan.store
        )

    async def _plan(self, scope, body: "_Body", *, is_get: bool):
        """What to do with the request: _UNTOUCHED (Django answers it as it
        comes), _NOT_CACHED (a GET Django answers, marked private), a _Hit, or a
        _Miss (Django answers; the answer may be kept)."""
        headers = _headers(scope)
        secure = _is_secure(scope, headers)
        accept = headers.get("accept", "")
        if (
            _redirected(secure)
            or not _host_allowed(scope, headers)
            or any(kind in accept for kind in _STREAM_ACCEPTS)
        ):
            return _UNTOUCHED
        if "authorization" in headers:
            return _NOT_CACHED if is_get else _UNTOUCHED
        if is_get:
            request, has_query = _request_of(True, scope["query_string"])
            if not has_query and "text/html" in accept:
                return _UNTOUCHED  # GraphiQL's page
        else:
            if not _is_json(headers.get("content-type", "")):
                return _UNTOUCHED
            raw = await body.read()
            request = None if raw is None else _request_of(False, raw)[0]
        not_cached = _NOT_CACHED if is_get else _UNTOUCHED
        if request is None:
            return not_cached
        keyed = await _keyed(
            request, headers.get("origin"), secure, headers.get("host")
        )
        if keyed is None:
            return not_cached
        key, kind = keyed
        registration = _registration(request)
        found = await self._lookup(key, registration.checks)
        if found is None:  # Redis does not answer: Django does, nothing is kept
            return _Miss(store=None)
        if not found.registered and registration.refused_unregistered:
            # Removed from the allow-list (or expired) since this process found
            # it: forgotten here at once, so Django refuses it now rather than
            # within LOCAL_SECONDS, and nothing is served or kept for it.
            forget_in_process(request.document_hash)
            return not_cached
        if found.entry is not None and found.registered:
            hit = _hit_of(found, is_get, headers.get("x-request-id"))
            if hit is not None:
                return hit
        _count("miss")
        return _Miss(
            store=_Store(
                key=key,
                started=found.started,
                lag=replica_lag_seconds(),
                operation=kind.operation,
                document_hash=request.document_hash,
                requirement=registration.requirement,
                client=_client(scope, headers),
            )
        )

    async def _private(self, scope, receive, send) -> None:
        """A GET that is not cached: Django's answer, marked private."""

        async def marked(message):
            if message["type"] == "http.response.start":
                message = _decorated_start(
                    message,
                    cache_control=_PRIVATE,
                    vary_authorization=True,
                    x_cache=None,
                )
            await send(message)

        await self.app(scope, receive, marked)

    async def _hit(
        self, send, method, hit: "_Hit", *, started, graphql_response: bool = False
    ) -> None:
        given = hit.request_id_given
        request_id = (given and sane_request_id(given)) or os.urandom(16).hex()
        is_get = method == "GET"
        # An entry is a successful answer: the same bytes in either media type,
        # labelled as this client asked (GraphQL over HTTP).
        out = [
            (name, value)
            for name, value in hit.headers
            if name.lower() != b"content-type"
        ]
        out.append(
            (
                b"content-type",
                GRAPHQL_RESPONSE + b"; charset=utf-8"
                if graphql_response
                else b"application/json",
            )
        )
        if is_get:
            out.append((b"cache-control", _max_age_header(hit.until)))
            out.extend(_tag_headers(hit.tags))
        out.append((b"content-length", str(len(hit.body)).encode()))
        out.append((b"x-request-id", request_id.encode()))
        out.append((b"x-cache", b"HIT"))
        await send({"type": "http.response.start", "status": 200, "headers": out})
        await send({"type": "http.response.body", "body": hit.body})
        seconds = time.perf_counter() - started
        operation = hit.operation
        if settings.METRICS_ENABLED:
            requests, duration, operations, hits = _hit_metrics(method, operation)
            requests.inc()
            duration.observe(seconds)
            operations.inc()
            hits.inc()
        if request_logger.isEnabledFor(logging.INFO):
            _log_hit(method, operation, request_id, seconds)

    async def _miss(self, scope, receive, send, *, is_get, store) -> None:
        """Django answers; a cacheable answer is kept as ``store`` says, if it
        says, with the tags of what Django read for it (shop.catalog.cache_tags
        collects them while it runs)."""
        start: dict | None = None
        tags: set[str] = set()
        chunks: list[bytes] = []
        passing = False  # not a JSON 200: sent on as it comes

        async def capture(message) -> None:
            nonlocal start, passing
            if passing:
                return await send(message)
            if message["type"] == "http.response.start":
                start = message
                response_headers = {
                    name.lower(): value for name, value in message.get("headers", ())
                }
                if (
                    message["status"] != 200
                    or not response_headers.get(b"content-type", b"").startswith(
                        (b"application/json", GRAPHQL_RESPONSE)
                    )
                    or b"set-cookie" in response_headers
                ):
                    passing = True
                    await send(self._start(message, is_get, cacheable=False))
                return None
            if message["type"] != "http.response.body":
                return await send(message)
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return None
            body = b"".join(chunks)
            # The substring "errors" in quotes can only be a key or a string
            # value: a false alarm costs a store, never a wrong answer.
            cacheable = b'"errors"' not in body
            until = answer_until(tags)
            decorated = self._start(start, is_get, cacheable=cacheable, until=until)
            if is_get and cacheable and store is not None:
                decorated["headers"].extend(_tag_headers(answer_tags(tags)))
            await send(decorated)
            await send({"type": "http.response.body", "body": body})
            if (
                cacheable
                and store is not None
                and len(body) <= settings.GRAPHQL_RESPONSE_CACHE_MAX_BYTES
            ):
                value = entry_encode(
                    start.get("headers", []), store.operation, body, until
                )
                await self._store(store, value, answer_tags(tags), until)
            return None

        if store is None:
            return await self.app(scope, receive, capture)
        tags, token = start_collecting()
        try:
            await self.app(scope, receive, capture)
        finally:
            stop_collecting(token)

    @staticmethod
    def _start(
        message: dict, is_get: bool, *, cacheable: bool, until: float | None = None
    ) -> dict:
        if not is_get:
            return _decorated_start(
                message, cache_control=None, vary_authorization=False, x_cache=b"MISS"
            )
        return _decorated_start(
            message,
            cache_control=_max_age_header(until) if cacheable else _PRIVATE,
            vary_authorization=True,
            x_cache=b"MISS",
        )


def _log_hit(method: str, operation: str | None, request_id: str, seconds: float):
    """The request line RequestLogMiddleware writes for Django's answers."""
    duration_ms = round(seconds * 1000, 1)
    token = enter_scope(LogScope(request_id=request_id, operation=operation))
    try:
        request_logger.info(
            "%s %s%s %s %sms",
            method,
            PATH,
            f" {operation}" if operation else "",
            200,
            duration_ms,
            extra={
                "method": method,
                "path": PATH,
                "operation": operation,
                "status": 200,
                "duration_ms": duration_ms,
                "user_id": None,
                "errors": None,
                "dependencies_down": None,
                "cache": "hit",
            },
        )
    finally:
        exit_scope(token)
