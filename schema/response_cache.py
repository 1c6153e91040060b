"""The response cache: anonymous catalog reads answered from Redis, before Django.

An ASGI middleware in front of Django's HTTP application (shop/asgi.py). For
``GET`` and ``POST /graphql/`` it:

1. Lets through untouched what it must not answer: another path or method, a
   plain-HTTP request that Django would redirect to HTTPS (SECURE_SSL_REDIRECT),
   a Host that is not in ALLOWED_HOSTS (Django answers 400), the GraphiQL page,
   streaming (multipart, SSE) requests, a POST whose media type is not
   ``application/json``, and anything it cannot read or key (a lone surrogate,
   ``"\ud800"`` in JSON, is no UTF-8: Django answers it as it would without the
   cache). Whatever goes wrong while it reads a request, Django answers it.
2. Lets through, never cached, anything with an ``Authorization`` header: the API
   knows users by their Bearer token only (never by cookie), so a request without
   one is anonymous and its answer cannot depend on who asks. Such GETs are told
   ``Cache-Control: private, no-store``.
3. Looks the request up in one Redis round trip (``MGET`` of the catalog version
   and the entry, plus whether its document is registered when that decides how
   Django answers it), keyed by the SHA-256 of the document (the hash an Apollo
   persisted-query request names, so a hash-only request shares the entry of the
   full text), the variables the operation declares as it receives them (coerced,
   defaults applied: undeclared ones never reach the answer), the operation name,
   the Origin (CORS headers differ by origin) and whether the request is HTTPS
   (HSTS). An entry made under the current catalog version is answered at once:
   status, the headers Django produced for it (security, CORS), a new
   ``X-Request-ID``, ``X-Cache: HIT``; no thread, no database, no GraphQL.
4. Otherwise hands the request to Django (a POST body it read is replayed) and,
   for a cacheable document, keeps the answer under the version read *before*
   Django ran, so a catalog change committed meanwhile makes it unusable at once
   (shop.catalog.cache_version changes the version on every catalog commit).

Cacheable: a single ``query`` whose root fields are all catalog reads
(``ROOT_FIELDS``: never ``node``, ``nodes``, ``cart``, ``me``, orders, nor
introspection), answered 200 with JSON, no ``errors``, no cookie set, at most
GRAPHQL_RESPONSE_CACHE_MAX_BYTES. Anonymous cacheable GETs say
``Cache-Control: public, max-age=GRAPHQL_CACHE_MAX_AGE`` and ``Vary:
Authorization`` (a CDN or browser keeps them that long: no version reaches it);
POST answers carry no Cache-Control (HTTP caches never keep them) but share the
server-side entries.

What is kept is bounded (``_STORE``): per window of GRAPHQL_RESPONSE_CACHE_TTL,
GRAPHQL_RESPONSE_CACHE_CLIENT_BYTES of entries per client (allow-listed documents
aside) and GRAPHQL_RESPONSE_CACHE_TOTAL_BYTES in all. A document that must be
registered to run (allow-list mode, a hash-only request) is answered and kept
only while it is: a removal from the allow-list stops both at once (and this
process forgets the document, so Django refuses it). With read replicas, no
answer computed within REPLICA_LAG_SECONDS of the last catalog change is kept
(shop.catalog.cache_version.replica_lag_seconds).

Redis down: the cache is skipped for a few seconds at a time (one warning per
outage), every request goes to Django; nothing fails because of it. A catalog
change whose version bump failed (Redis down at that commit) can be served stale
until GRAPHQL_RESPONSE_CACHE_TTL ends. A ``rediss://`` URL's ``ssl_*`` options
are honoured as redis-py honours them for the rest of the shop.
"""

import asyncio
import hashlib
import json
import logging
import os
import re
import ssl
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from urllib.parse import parse_qsl

from django.conf import settings
from django.http.request import split_domain_port, validate_host
from django.utils.http import parse_header_parameters
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    VariableDefinitionNode,
    ast_from_value,
    parse,
    print_ast,
    type_from_ast,
)
from graphql.execution.values import get_variable_values
from prometheus_client import Counter
from redis.asyncio.connection import SSLConnection as AsyncSSLConnection
from redis.connection import SSLConnection, parse_url

from shop.catalog.cache_tags import (
    answer_tags,
    answer_until,
    listen_in_background,
    start_collecting,
    stop_collecting,
    tag_key_prefix,
)
from shop.core import metrics
from shop.core.cdn import header_tag
from shop.core.clients import client_ip, client_key
from shop.core.logs import LogScope, enter_scope, exit_scope, sane_request_id
from shop.core.persisted_queries import (
    ALLOWED_PREFIX,
    AUTO_PREFIX,
    forget_in_process,
)
from shop.core.persisted_queries import alookup as persisted_document

logger = logging.getLogger(__name__)
request_logger = logging.getLogger("shop.request")

PATH = "/graphql/"
# Root fields whose answer is the same for every anonymous visitor and changes
# only with the catalog (shop.catalog.cache_version). Nothing else is cached.
ROOT_FIELDS = frozenset(
    {
        "products",
        "product",
        "variant",
        "categories",
        "category",
        "attributes",
        "__typename",
    }
)
# The most of a POST body read before deciding; a longer one goes to Django.
BODY_LIMIT = 256 * 1024
# Documents longer than this are never cached (they still run).
DOCUMENT_LIMIT = 64 * 1024
# Seconds the cache is skipped after Redis failed to answer.
OUTAGE_SECONDS = 5.0
# Seconds one Redis call may take before the cache is skipped for this request.
REDIS_TIMEOUT = 0.5
# Response headers never kept in an entry: per request, recomputed, or the server's.
_UNSTORED = frozenset(
    {
        b"x-request-id",
        b"cache-control",
        b"content-length",
        b"x-cache",
        b"date",
        b"server",
        b"vary",
        b"set-cookie",
        b"surrogate-key",
        b"cache-tag",
    }
)
_HASH = re.compile(r"[0-9a-fA-F]{64}")
_STREAM_ACCEPTS = ("multipart/mixed", "text/event-stream")

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


# ---------------------------------------------------------------- requests


@dataclass(frozen=True, slots=True)
class CacheRequest:
    """What identifies a GraphQL request's answer."""

    document_hash: str
    document: str | None  # None: an Apollo persisted-query request (hash only)
    operation_name: str | None
    variables: str  # canonical JSON, as sent (declared or not)
    registers: bool = False  # the document and its hash: Django registers it


def _canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def cache_request(data: object) -> CacheRequest | None:
    """The request's identity from its decoded ``query``, ``variables``,
    ``operationName`` and ``extensions``; None when it is not a single operation
    the cache can answer (Django then decides what it is)."""
    if not isinstance(data, dict):
        return None  # a batch, or not JSON
    document = data.get("query")
    variables = data.get("variables")
    operation_name = data.get("operationName")
    extensions = data.get("extensions")
    if not isinstance(document, str | None) or not isinstance(variables, dict | None):
        return None
    if not isinstance(operation_name, str | None):
        return None
    sha256_hash = None
    if extensions is not None and not isinstance(extensions, dict):
        return None  # strawberry refuses it
    if extensions:
        if set(extensions) != {"persistedQuery"}:
            return None  # other extensions: Django's
        persisted = extensions["persistedQuery"]
        if not isinstance(persisted, dict):
            return None
        version = persisted.get("version")
        if version != 1 or isinstance(version, bool):
            return None  # Django refuses other versions (schema.persisted)
        sha256_hash = persisted.get("sha256Hash")
        if not isinstance(sha256_hash, str) or not _HASH.fullmatch(sha256_hash):
            return None
        sha256_hash = sha256_hash.lower()
    canonical_variables = _canonical(variables or {})
    try:
        # A lone surrogate ("\ud800" in JSON) is not UTF-8: nothing to key it by.
        canonical_variables.encode()
        if operation_name is not None:
            operation_name.encode()
        encoded = None if document is None else document.encode()
    except UnicodeEncodeError:
        return None
    if encoded is not None:
        if len(document) > DOCUMENT_LIMIT:
            return None
        own_hash = hashlib.sha256(encoded).hexdigest()
        if sha256_hash is not None and sha256_hash != own_hash:
            return None  # Django refuses the mismatch
        sha256_hash = own_hash
    elif sha256_hash is None:
        return None
    return CacheRequest(
        document_hash=sha256_hash,
        document=document,
        operation_name=operation_name,
        variables=canonical_variables,
        registers=document is not None and bool(extensions),
    )


def _query_params(query_string: bytes) -> dict | None:
    """A GET's parameters as strawberry reads them (the last of repeated ones),
    ``variables`` and ``extensions`` decoded from JSON."""
    try:
        params = dict(
            parse_qsl(query_string.decode(), keep_blank_values=True, errors="replace")
        )
        for name in ("variables", "extensions"):
            if name in params:
                if not params[name]:
                    return None  # strawberry refuses an empty one
                params[name] = json.loads(params[name])
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    return params


# ---------------------------------------------------------------- documents


@dataclass(frozen=True, slots=True)
class Classified:
    cacheable: bool
    operation: str | None = None  # the operation's name, for logs and metrics
    # The variables the operation declares: the only ones its answer depends on.
    variable_definitions: tuple[VariableDefinitionNode, ...] = ()


_NOT_CACHEABLE = Classified(cacheable=False)
_classified: OrderedDict[tuple[str, str | None], Classified] = OrderedDict()
_classified_lock = threading.Lock()
_CLASSIFIED_SIZE = 1024


def classify(document: str, operation_name: str | None) -> Classified:
    """Whether the operation is a query reading only the catalog's root fields
    (fragments on Query followed); the document is parsed, not validated."""
    try:
        parsed = parse(
            document, no_location=True, max_tokens=settings.GRAPHQL_MAX_TOKENS
        )
    except (GraphQLError, RecursionError):
        return _NOT_CACHEABLE
    operations = [
        node for node in parsed.definitions if isinstance(node, OperationDefinitionNode)
    ]
    if operation_name is None:
        operation = operations[0] if len(operations) == 1 else None
    else:
        operation = next(
            (o for o in operations if o.name and o.name.value == operation_name),
            None,
        )
    if operation is None or operation.operation != OperationType.QUERY:
        return _NOT_CACHEABLE
    fragments = {
        node.name.value: node
        for node in parsed.definitions
        if isinstance(node, FragmentDefinitionNode)
    }
    pending, seen = [operation.selection_set], set()
    while pending:
        for selection in pending.pop().selections:
            if isinstance(selection, FieldNode):
                if selection.name.value not in ROOT_FIELDS:
                    return _NOT_CACHEABLE
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                if condition is not None and condition.name.value != "Query":
                    return _NOT_CACHEABLE
                pending.append(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = fragments.get(name)
                if fragment is None or fragment.type_condition.name.value != "Query":
                    return _NOT_CACHEABLE
                if name not in seen:
                    seen.add(name)
                    pending.append(fragment.selection_set)
    return Classified(
        cacheable=True,
        operation=operation.name.value if operation.name else None,
        variable_definitions=tuple(operation.variable_definitions or ()),
    )


def classified_before(request: CacheRequest) -> Classified | None:
    """What ``classified`` found for this document and operation, if it still
    remembers (a hash names one text forever)."""
    key = (request.document_hash, request.operation_name)
    with _classified_lock:
        found = _classified.get(key)
        if found is not None:
            _classified.move_to_end(key)
        return found


def classified(request: CacheRequest, document: str) -> Classified:
    """``classify``, remembered per document hash and operation name."""
    found = classified_before(request)
    if found is not None:
        return found
    found = classify(document, request.operation_name)
    key = (request.document_hash, request.operation_name)
    with _classified_lock:
        _classified[key] = found
        while len(_classified) > _CLASSIFIED_SIZE:
            _classified.popitem(last=False)
    return found


def declared_variables(kind: Classified, variables: object) -> str | None:
    """The variables as the operation receives them: those it declares, coerced
    to their types, defaults applied (``{"first": 1.0}``, ``{"first": 1}`` and
    ``{"first": 1, "junk": ...}`` are one), each printed as a GraphQL literal
    (input fields in the type's order), an omitted one told from a null. None when
    they do not coerce: Django answers the errors, nothing is cached.

    Undeclared variables never reach the answer, so keying on them would only let
    a client make as many entries as it likes of one answer."""
    from schema import schema

    graphql_schema = schema._schema
    try:
        coerced = get_variable_values(
            graphql_schema, kind.variable_definitions, variables or {}
        )
        if not isinstance(coerced, dict):
            return None  # errors
        printed: list[list[str]] = []
        for definition in kind.variable_definitions:
            name = definition.variable.name.value
            if name not in coerced:
                printed.append([name])
                continue
            input_type = type_from_ast(graphql_schema, definition.type)
            node = (
                None
                if input_type is None
                else ast_from_value(coerced[name], input_type)
            )
            if node is None:
                return None
            printed.append([name, print_ast(node)])
    except (GraphQLError, RecursionError, TypeError, ValueError, AttributeError):
        return None
    return _canonical(printed)


# ---------------------------------------------------------------- keys


_fingerprint: str | None = None


def fingerprint() -> str:
    """What else an answer depends on: the schema, and the settings that shape
    answers (GRAPHQL_*, PRODUCT_FILTER_*, SHOP_CURRENCY) and the release. A
    deploy that changes any of them starts from an empty cache."""
    global _fingerprint
    if _fingerprint is None:
        from schema import schema

        shaping = {
            name: repr(getattr(settings, name))
            for name in dir(settings)
            if name.startswith(("GRAPHQL_", "PRODUCT_FILTER_"))
            or name in ("SHOP_CURRENCY", "SENTRY_RELEASE")
        }
        digest = hashlib.sha256(schema.as_str().encode())
        digest.update(_canonical(shaping).encode())
        _fingerprint = digest.hexdigest()[:16]
    return _fingerprint


def _prefix() -> str:
    prefix = settings.CACHES["default"].get("KEY_PREFIX") or ""
    return f"{prefix}:" if prefix else ""


def entry_key(
    request: CacheRequest, *, variables: str, origin: str | None, secure: bool
) -> str:
    """The Redis key of the answer to ``request`` with its ``declared_variables``
    (whatever the catalog version: the version is kept inside the entry)."""
    identity = _canonical(
        [
            request.document_hash,
            request.operation_name,
            variables,
            origin,
            secure,
        ]
    )
    digest = hashlib.sha256(identity.encode(errors="surrogatepass")).hexdigest()
    return f"{_prefix()}gql:response:{fingerprint()}:{digest}"


def _budget_key(name: str) -> str:
    return f"{_prefix()}gql:budget:{name}"


def entry_encode(
    headers: list[tuple[bytes, bytes]],
    operation: str | None,
    body: bytes,
    until: float | None = None,
) -> bytes:
    """``meta-JSON \\n body``, what a hit sends: the meta holds the headers Django
    produced (minus per-request ones) and the operation name. The store script
    puts the entry's tags and their versions in front (``_STORE``)."""
    meta = {
        "h": [
            [name.decode("latin-1"), value.decode("latin-1")]
            for name, value in headers
            if name.lower() not in _UNSTORED
        ],
        "v": [
            value.decode("latin-1")
            for name, value in headers
            if name.lower() == b"vary"
        ],
        "o": operation,
        "u": until,
    }
    return b"\n".join((_canonical(meta).encode(), body))


# ---------------------------------------------------------------- per process

# What repeated requests would compute again, remembered (a storefront sends the
# same few documents): raw request -> its identity, identity -> key, stored
# headers -> what a hit sends. First in, first out.
_MEMO_SIZE = 1024
_MEMO_RAW_LIMIT = 16 * 1024
_requests: dict[tuple[bool, bytes], tuple[CacheRequest | None, bool]] = {}
_keys: dict[tuple[CacheRequest, str | None, bool], tuple[str, Classified]] = {}
_metas: dict[tuple[bytes, bool], tuple[tuple, str | None]] = {}
_hosts: dict[tuple[str, tuple], bool] = {}


def _remember(memo: dict, key, value) -> None:
    if len(memo) >= _MEMO_SIZE:
        del memo[next(iter(memo))]
    memo[key] = value


def _request_of(is_get: bool, raw: bytes) -> tuple[CacheRequest | None, bool]:
    """The identity of a GET's query string or a POST's body, and whether it
    names a ``query`` (a GET without one may be a browser opening GraphiQL)."""
    found = _requests.get((is_get, raw))
    if found is not None:
        return found
    if is_get:
        params = _query_params(raw)
    else:
        try:
            params = json.loads(raw)
        except (ValueError, RecursionError):
            params = None
    found = (
        None if params is None else cache_request(params),
        isinstance(params, dict) and "query" in params,
    )
    if len(raw) <= _MEMO_RAW_LIMIT:
        _remember(_requests, (is_get, raw), found)
    return found


async def _keyed(
    request: CacheRequest, origin: str | None, secure: bool
) -> tuple[str, Classified] | None:
    """The entry key of a cacheable request and its operation; None when the
    request is not cacheable (or its hash names no document this process can
    find). A hash-only request's document is looked up once per process: after
    that, the classification and the key are remembered."""
    memo_key = (request, origin, secure)
    found = _keys.get(memo_key)
    if found is not None:
        return found
    kind = classified_before(request)
    if kind is None:
        document = request.document
        if document is None:  # a persisted query: its text, to classify it
            document = await persisted_document(request.document_hash)
        if document is None:
            return None
        kind = classified(request, document)
    if not kind.cacheable:
        return None
    variables = declared_variables(kind, json.loads(request.variables))
    if variables is None:
        return None
    found = (
        entry_key(request, variables=variables, origin=origin, secure=secure),
        kind,
    )
    _remember(_keys, memo_key, found)
    return found


def _meta_of(meta: bytes, is_get: bool) -> tuple[tuple, str | None, float | None]:
    """The stored headers as a hit sends them (Vary with Authorization on a GET),
    and the operation's name."""
    found = _metas.get((meta, is_get))
    if found is None:
        decoded = json.loads(meta)
        headers = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in decoded["h"]]
        vary = _vary(decoded["v"], authorization=is_get)
        if vary is not None:
            headers.append((b"vary", vary))
        found = (tuple(headers), decoded["o"], decoded.get("u"))
        _remember(_metas, (meta, is_get), found)
    return found


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


# ---------------------------------------------------------------- scripts

# An entry is ``<tags> \n <versions> \n <meta> \n <body>``: the tags of what the
# answer was built from (space-separated; shop.catalog.cache_tags), the version
# each tag had when it was kept, then what a hit sends. A tag's version is
# ``<microseconds>-<token>`` (cache_tags.BUMP): Redis's clock when the tag last
# changed, and a random token.
#
# Why a hit is never stale. A write's tags get new versions after it commits and
# before the writing call returns (cache_tags.flush). An entry is kept only if none
# of its tags changed after its request read Redis's clock (T0, in the lookup,
# before Django ran): a change committed before T0 was visible to the request's
# reads; one whose versions are newer than T0 makes the store refuse; one whose
# versions change after the store makes the entry's recorded versions differ from
# the current ones, and a lookup serves an entry only while every one of its tags
# still has the version it recorded. Equality, not order: a tag whose key Redis
# lost (an eviction, a restart) never matches, so the entry misses. A tag never
# changed has no key yet: the store gives it ``0-<token>`` (older than any request).
# With read replicas the store also refuses when a tag changed within the
# replicas' lag before T0 (the replica may not have replayed it).

# KEYS[1]: the entry; KEYS[2...]: registration keys (the document must be
# registered: any of them exists). ARGV[1]: the tag key prefix. Returns the entry's
# meta and body when it is valid (else nil), whether the document is registered
# (1 when no keys are given), Redis's clock (seconds, microseconds), and a valid
# entry's tags.
_LOOKUP = r"""
local now = redis.call('TIME')
local registered = 1
if #KEYS > 1 then
  registered = redis.call('EXISTS', unpack(KEYS, 2))
end
local entry = redis.call('GET', KEYS[1])
if not entry then
  return {false, registered, now[1], now[2]}
end
local first = string.find(entry, '\n', 1, true)
local second = first and string.find(entry, '\n', first + 1, true)
if not second then
  return {false, registered, now[1], now[2]}
end
local keys = {}
for tag in string.gmatch(string.sub(entry, 1, first - 1), '[^ ]+') do
  keys[#keys + 1] = ARGV[1] .. tag
end
if #keys == 0 then
  return {false, registered, now[1], now[2]}
end
local current = redis.call('MGET', unpack(keys))
local i = 0
for version in string.gmatch(string.sub(entry, first + 1, second - 1), '[^ ]+') do
  i = i + 1
  if current[i] ~= version then
    return {false, registered, now[1], now[2]}
  end
end
if i ~= #keys then
  return {false, registered, now[1], now[2]}
end
return {string.sub(entry, second + 1), registered, now[1], now[2],
        string.sub(entry, 1, first - 1)}
"""

# KEYS: the entry, its document's allow-listed key and automatically registered
# key, the client's budget, the total budget. ARGV: 1 the meta and body, 2 the TTL
# (also the budgets' window), 3 the client's limit, 4 the total limit, 5 what the
# request needs registered: "allowed" (allow-list mode), "any" (a hash-only
# request), "none" (a document sent in full), 6 the tag key prefix, 7 T0 (the
# request's start on Redis's clock, microseconds), 8 the replicas' lag
# (microseconds), 9 a random token, 10 the answer's tags (space-separated), 11 the
# entry's TTL in milliseconds (the TTL, or less when the answer has a time
# boundary: cache_tags.valid_until).
# 1: kept and counted; 0: the document is no longer registered as needed; -1: over
# a budget; -2: a tag changed since T0 (minus the lag). An allow-listed document
# is counted in the total only: the shop chose it, and an SSR storefront sends it
# for all its visitors from one address. One script, so that a removal from the
# allow-list (persisted_queries.disallow: delete, then every answer invalidated)
# comes either before it (nothing is kept) or after it (the entry recorded the
# versions the removal replaces), and racing stores cannot all pass a budget
# check made before any of them was counted.
_STORE = r"""
local allowed = redis.call('EXISTS', KEYS[2]) == 1
if ARGV[5] == 'allowed' and not allowed then
  return 0
end
if ARGV[5] == 'any' and not allowed and redis.call('EXISTS', KEYS[3]) == 0 then
  return 0
end
local limit = tonumber(ARGV[7]) - tonumber(ARGV[8])
local versions = {}
for tag in string.gmatch(ARGV[10], '[^ ]+') do
  local key = ARGV[6] .. tag
  local version = redis.call('GET', key)
  if not version then
    version = '0-' .. ARGV[9]
    redis.call('SET', key, version)
  else
    local changed = tonumber(string.match(version, '^(%d+)-'))
    if changed == nil or changed >= limit then
      return -2
    end
  end
  versions[#versions + 1] = version
end
local value = ARGV[10] .. '\n' .. table.concat(versions, ' ') .. '\n' .. ARGV[1]
local size = string.len(KEYS[1]) + string.len(value)
local budgets = {KEYS[5]}
local limits = {tonumber(ARGV[4])}
if not allowed then
  budgets[2] = KEYS[4]
  limits[2] = tonumber(ARGV[3])
end
for i, key in ipairs(budgets) do
  if tonumber(redis.call('GET', key) or '0') + size > limits[i] then
    return -1
  end
end
redis.call('SET', KEYS[1], value, 'PX', ARGV[11])
for _, key in ipairs(budgets) do
  if redis.call('INCRBY', key, size) == size then
    redis.call('EXPIRE', key, ARGV[2])
  end
end
return 1
"""
_LOOKUP_SHA = hashlib.sha1(_LOOKUP.encode()).hexdigest()
_STORE_SHA = hashlib.sha1(_STORE.encode()).hexdigest()

# ---------------------------------------------------------------- read replicas

# With DATABASE_REPLICA_URLS, GraphQL reads of the catalog go to a replica, which
# may not have replayed a change yet when its tags change: an answer computed just
# after it could hold the old rows under the new versions. So no answer is kept
# whose tags changed less than this long before its request started (both on
# Redis's clock). That is decided from what is in Redis: nothing has to happen
# later, so it holds whatever becomes of the process that made the change. A
# replica lagging longer than this can still leave a stale answer until
# GRAPHQL_RESPONSE_CACHE_TTL.
REPLICA_LAG_SECONDS = 2.0


def replica_lag_seconds() -> float:
    """How long after a change its tags' answers are not kept: REPLICA_LAG_SECONDS
    with read replicas, 0 without."""
    return REPLICA_LAG_SECONDS if _replicas_configured() else 0.0


def _replicas_configured() -> bool:
    return any(alias.startswith("replica") for alias in settings.DATABASES)


async def _evaluate(client, script: str, sha: str, keys: list, args: list):
    """EVALSHA, or EVAL when Redis does not know the script yet."""
    try:
        [reply] = await client.execute(("EVALSHA", sha, str(len(keys)), *keys, *args))
    except RedisReplyError as error:
        if not str(error).startswith("NOSCRIPT"):
            raise
        [reply] = await client.execute(("EVAL", script, str(len(keys)), *keys, *args))
    return reply


_UNTOUCHED = object()  # Django answers the request as it came
_NOT_CACHED = object()  # Django answers a GET, marked private


class _Body:
    """The request's receive, and its body once read (then replayed to Django)."""

    def __init__(self, receive) -> None:
        self.receive = receive

    async def read(self) -> bytes | None:
        messages, body = await _read_body(self.receive)
        self.receive = _replaying(messages, self.receive)
        return body


@dataclass(frozen=True, slots=True)
class _Found:
    """What one lookup read from Redis."""

    entry: bytes | None  # a valid entry's meta and body
    registered: bool  # the document is registered as the request needs
    started: int  # Redis's clock, microseconds: T0 (see _STORE)
    tags: list[str]  # a valid entry's tags


@dataclass(frozen=True, slots=True)
class _Hit:
    headers: tuple
    operation: str | None
    body: bytes
    request_id_given: str | None
    tags: list[str]
    until: float | None  # the answer's time boundary (Unix time)


@dataclass(frozen=True, slots=True)
class _Store:
    """Where and how a miss's answer may be kept."""

    key: str
    started: int  # T0, microseconds on Redis's clock
    lag: float  # replica_lag_seconds()
    operation: str | None
    document_hash: str
    requirement: str  # see _STORE
    client: str  # shop.core.clients.client_key


@dataclass(frozen=True, slots=True)
class _Miss:
    store: _Store | None  # None: the answer is not kept


@dataclass(frozen=True, slots=True)
class _Registration:
    """What a request needs registered to run as Django runs it."""

    requirement: str  # for _STORE: "allowed", "any" or "none"
    checks: tuple[str, ...] = ()  # the keys saying whether it is registered
    # Unregistered: refused by Django (True), or run and registered by Django
    # (False: then never a hit, so that Django sees it and registers it).
    refused_unregistered: bool = True


def _registration(request: CacheRequest) -> _Registration:
    """In allow-list mode every document must be allow-listed; a hash-only
    request needs its hash registered (allow-listed or by a client); a document
    sent with its hash registers it (Apollo's link sends it after a
    PersistedQueryNotFound); a document alone runs as it is."""
    document_hash = request.document_hash
    allowed, auto = ALLOWED_PREFIX + document_hash, AUTO_PREFIX + document_hash
    if settings.GRAPHQL_PERSISTED_QUERIES_ONLY:
        return _Registration("allowed", (allowed,))
    if request.document is None:
        return _Registration("any", (allowed, auto))
    if request.registers:
        return _Registration("none", (allowed, auto), refused_unregistered=False)
    return _Registration("none")


def _hit_of(found: _Found, is_get: bool, request_id_given: str | None) -> _Hit | None:
    """The entry the lookup found valid, as a hit."""
    parts = found.entry.split(b"\n", 1)
    if len(parts) != 2:
        return None
    meta, body = parts
    headers, operation, until = _meta_of(meta, is_get)
    return _Hit(headers, operation, body, request_id_given, found.tags, until)


# ---------------------------------------------------------------- the middleware


class ResponseCache:
    """ASGI middleware: see the module's docstring."""

    def __init__(self, app) -> None:
        self.app = app
        self._client: SharedRedisConnection | EmbeddedRedis | None = None
        self._client_loop = None
        self._client_url = None
        self._skip_until = 0.0

    # ---- Redis

    def _redis(self) -> SharedRedisConnection | EmbeddedRedis | None:
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
                EmbeddedRedis(url)
                if settings.EMBEDDED_REDIS
                else SharedRedisConnection(url)
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
            return await self._hit(send, method, plan, started=started)
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
        keyed = await _keyed(request, headers.get("origin"), secure)
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

    async def _hit(self, send, method, hit: "_Hit", *, started) -> None:
        given = hit.request_id_given
        request_id = (given and sane_request_id(given)) or os.urandom(16).hex()
        is_get = method == "GET"
        out = list(hit.headers)
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
                        b"application/json"
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
