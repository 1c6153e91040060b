"""Persisted GraphQL documents in Redis, by the SHA-256 of their text.

Two key spaces, so that turning the allow-list on never admits what a client
registered by itself:

- ``apq:auto:<sha256>``: documents registered by clients at request time (Apollo's
  automatic persisted queries), each for GRAPHQL_APQ_TTL_SECONDS from its
  registration; a client whose hash has expired registers it again in one more
  round trip. Anyone may register, so registration is bounded (``_REGISTER``):
  at most MAX_DOCUMENT_BYTES per document, GRAPHQL_APQ_REGISTRATIONS_PER_CLIENT
  new documents per client (an IPv4 address or an IPv6 /64) and
  GRAPHQL_APQ_REGISTERED_BYTES of new documents from all clients together, per
  window of GRAPHQL_APQ_TTL_SECONDS. A document lives one window, so what
  clients keep in Redis is at most twice the total. Over a bound, the document
  still runs, unregistered: its client sends it in full again next time.
- ``apq:allowed:<sha256>``: documents registered ahead of time by
  ``manage.py persisted_queries register``. They never expire. With
  GRAPHQL_PERSISTED_QUERIES_ONLY on, they are the only documents the API runs.

Each process also remembers the documents it has found (at most
GRAPHQL_DOCUMENT_CACHE_SIZE) for LOCAL_SECONDS, so a popular hash costs no Redis
round trip, and a document this process already knows keeps being served while
Redis does not answer. A hash names one text forever, so a remembered document is
never wrong; only its allow-listing can change (``remove``), and that reaches
every process within LOCAL_SECONDS (at once for the requests the response cache
sees: it asks Redis whether the document is still registered, and forgets it
here if not).

The GraphQL layer (schema/persisted.py) verifies hashes and decides what may be
registered; this module only stores and finds. Nothing here parses GraphQL.
"""

import hashlib
import logging
import threading
import time
from dataclasses import dataclass

from asgiref.sync import sync_to_async
from django.conf import settings
from django_redis import get_redis_connection
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

AUTO_PREFIX = "apq:auto:"
ALLOWED_PREFIX = "apq:allowed:"
# A remembered document is asked from Redis again after this many seconds.
LOCAL_SECONDS = 60.0
# Documents longer than this are run but never registered automatically: the token
# limit bounds a document's tokens, not the length of its string literals.
MAX_DOCUMENT_BYTES = 64 * 1024
CLIENT_BUDGET_PREFIX = "apq:budget:client:"
TOTAL_BUDGET_KEY = "apq:budget:total"

# KEYS: the document's key, the client's counter (new documents), the total
# counter (bytes); ARGV: the document, the TTL (also the counters' window), the
# client's limit, the total limit, the document's bytes. A document already there
# has its TTL renewed and costs nothing; a new one is kept only within both
# limits, and counted. 1: kept; 0: over the client's limit; -1: over the total.
# One script, so racing registrations cannot all pass a check made before any of
# them was counted.
_REGISTER = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  return 1
end
local size = tonumber(ARGV[5])
if tonumber(redis.call('GET', KEYS[2]) or '0') + 1 > tonumber(ARGV[3]) then
  return 0
end
if tonumber(redis.call('GET', KEYS[3]) or '0') + size > tonumber(ARGV[4]) then
  return -1
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
if redis.call('INCR', KEYS[2]) == 1 then
  redis.call('EXPIRE', KEYS[2], ARGV[2])
end
if redis.call('INCRBY', KEYS[3], size) == size then
  redis.call('EXPIRE', KEYS[3], ARGV[2])
end
return 1
"""
# The total limit is logged at most this often per process (a client over its own
# limit is not worth a line: it may be an attack, and it is bounded).
_TOTAL_WARNING_SECONDS = 300.0
_total_warned_at: float | None = None


class PersistedQueriesUnavailable(Exception):
    """Redis does not answer, and this process does not know the document."""


def sha256_hex(document: str) -> str:
    """The hash a client names ``document`` by: SHA-256 of its UTF-8, lower hex
    (a lone surrogate, which UTF-8 cannot hold, hashes as itself, never failing)."""
    return hashlib.sha256(document.encode(errors="surrogatepass")).hexdigest()


# ---------------------------------------------------------------- this process


@dataclass(frozen=True, slots=True)
class _Known:
    document: str
    allow_listed: bool
    found_at: float


_known: dict[str, _Known] = {}
_known_lock = threading.Lock()


def _remember(sha256_hash: str, document: str, *, allow_listed: bool) -> None:
    with _known_lock:
        _known.pop(sha256_hash, None)
        while _known and len(_known) >= max(settings.GRAPHQL_DOCUMENT_CACHE_SIZE, 1):
            del _known[next(iter(_known))]  # the oldest
        _known[sha256_hash] = _Known(document, allow_listed, time.monotonic())


def forget_in_process(sha256_hash: str) -> None:
    """Forget one document here (its registration is gone: the next ``find``
    asks Redis)."""
    with _known_lock:
        _known.pop(sha256_hash, None)


def forget_all_in_process() -> None:
    """Forget what this process remembers (tests; Redis stays as it is)."""
    with _known_lock:
        _known.clear()


# ---------------------------------------------------------------- finding


def find(sha256_hash: str, *, allow_listed_only: bool) -> str | None:
    """The document registered under ``sha256_hash`` (lower hex), or None.

    ``allow_listed_only``: only documents registered ahead of time count. Raises
    PersistedQueriesUnavailable when Redis does not answer and this process does
    not know the document.
    """
    known = _known.get(sha256_hash)
    if known is not None and allow_listed_only and not known.allow_listed:
        known = None
    if known is not None and time.monotonic() - known.found_at < LOCAL_SECONDS:
        return known.document
    try:
        redis = get_redis_connection("default")
        if allow_listed_only:
            allowed, auto = redis.get(ALLOWED_PREFIX + sha256_hash), None
        else:
            allowed, auto = redis.mget(
                ALLOWED_PREFIX + sha256_hash, AUTO_PREFIX + sha256_hash
            )
    except RedisError as error:
        if known is not None:
            return known.document  # known a minute ago; a hash never changes text
        logger.exception("Persisted queries unavailable; a hash was not looked up")
        raise PersistedQueriesUnavailable from error
    found = allowed if allowed is not None else auto
    if found is None:
        with _known_lock:
            _known.pop(sha256_hash, None)
        return None
    document = found.decode()
    _remember(sha256_hash, document, allow_listed=allowed is not None)
    return document


def lookup(sha256_hash: str) -> str | None:
    """The document a request naming ``sha256_hash`` runs, as the API decides it
    (allow-listed documents only while GRAPHQL_PERSISTED_QUERIES_ONLY is on); None
    when there is none, or when Redis does not answer (logged) and this process
    does not know it. For layers in front of the GraphQL view (a response cache)."""
    if not isinstance(sha256_hash, str):
        return None
    try:
        return find(
            sha256_hash.lower(),
            allow_listed_only=settings.GRAPHQL_PERSISTED_QUERIES_ONLY,
        )
    except PersistedQueriesUnavailable:
        return None


async def afind(sha256_hash: str, *, allow_listed_only: bool) -> str | None:
    """``find`` for async code: no thread and no Redis round trip for a document
    this process remembers, ``find`` in a worker thread otherwise."""
    known = _known.get(sha256_hash)
    if (
        known is not None
        and (known.allow_listed or not allow_listed_only)
        and time.monotonic() - known.found_at < LOCAL_SECONDS
    ):
        return known.document
    return await sync_to_async(find, thread_sensitive=False)(
        sha256_hash, allow_listed_only=allow_listed_only
    )


async def alookup(sha256_hash: str) -> str | None:
    """``lookup`` for async code (see ``afind``)."""
    if not isinstance(sha256_hash, str):
        return None
    try:
        return await afind(
            sha256_hash.lower(),
            allow_listed_only=settings.GRAPHQL_PERSISTED_QUERIES_ONLY,
        )
    except PersistedQueriesUnavailable:
        return None


# ---------------------------------------------------------------- registering


def register_automatic(sha256_hash: str, document: str, *, client: str) -> bool:
    """Keep ``document`` (whose hash the caller verified, and which parsed and
    validated) under its hash for GRAPHQL_APQ_TTL_SECONDS, if ``client`` (a
    shop.core.clients.client_key) and all clients together are within their
    registration limits. False when it is not kept: too long, not valid UTF-8,
    over a limit, or Redis does not answer (logged); the client then sends it in
    full again next time, nothing else is lost."""
    global _total_warned_at
    try:
        encoded = document.encode()
    except UnicodeEncodeError:  # a lone surrogate: not a text Redis can keep
        return False
    if len(encoded) > MAX_DOCUMENT_BYTES:
        return False
    try:
        kept = get_redis_connection("default").eval(
            _REGISTER,
            3,
            AUTO_PREFIX + sha256_hash,
            CLIENT_BUDGET_PREFIX + client,
            TOTAL_BUDGET_KEY,
            encoded,
            settings.GRAPHQL_APQ_TTL_SECONDS,
            settings.GRAPHQL_APQ_REGISTRATIONS_PER_CLIENT,
            settings.GRAPHQL_APQ_REGISTERED_BYTES,
            len(encoded),
        )
    except RedisError:
        logger.exception("Persisted queries unavailable; a document was not kept")
        return False
    if kept == -1:
        now = time.monotonic()
        if _total_warned_at is None or now - _total_warned_at > _TOTAL_WARNING_SECONDS:
            _total_warned_at = now
            logger.warning(
                "Clients registered GRAPHQL_APQ_REGISTERED_BYTES of persisted "
                "queries in this window: new documents run unregistered until it ends"
            )
    if kept != 1:
        return False
    _remember(sha256_hash, document, allow_listed=False)
    return True


def allow(documents: list[str]) -> tuple[int, int]:
    """Add ``documents`` to the allow-list, without expiry (one Redis round trip).
    Returns (added, already there). RedisError propagates: the caller (a
    management command) must fail loudly."""
    hashes = [sha256_hex(document) for document in documents]
    with get_redis_connection("default").pipeline(transaction=True) as pipe:
        for sha256_hash, document in zip(hashes, documents, strict=True):
            pipe.set(ALLOWED_PREFIX + sha256_hash, document, nx=True)
        added = sum(1 for result in pipe.execute() if result)
    return added, len(documents) - added


def disallow(hashes: list[str]) -> int:
    """Remove hashes from the allow-list; returns how many were there. Every
    process stops running them within LOCAL_SECONDS, and cached answers to them
    are dropped at once (the whole cache is invalidated after the delete: the
    response cache keeps an answer only while its document is listed, in one
    script, so none computed before the removal is kept past it)."""
    from shop.catalog.cache_tags import invalidate_all

    if not hashes:
        return 0
    keys = [ALLOWED_PREFIX + sha256_hash.lower() for sha256_hash in hashes]
    removed = int(get_redis_connection("default").delete(*keys))
    if removed:
        invalidate_all()
    return removed


def allow_listed() -> dict[str, str]:
    """Every allow-listed document by hash."""
    redis = get_redis_connection("default")
    keys = sorted(redis.scan_iter(match=ALLOWED_PREFIX + "*", count=500))
    found: dict[str, str] = {}
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        for key, value in zip(chunk, redis.mget(chunk), strict=True):
            if value is not None:
                found[key.decode().removeprefix(ALLOWED_PREFIX)] = value.decode()
    return found
