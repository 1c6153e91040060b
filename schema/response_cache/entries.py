"""Entries and their tags: what an entry holds, and the Redis scripts that
look one up and keep one, in one round trip each (see ``_LOOKUP`` for why a hit is
never stale). The tags themselves, and how writes change them, are
shop.catalog.cache_tags's: the database sees every write.
"""

import hashlib
import json
from dataclasses import dataclass

from django.conf import settings

from schema.response_cache.http import _vary
from schema.response_cache.keys import CacheRequest, _canonical, _remember
from schema.response_cache.redis import RedisReplyError
from shop.core.persisted_queries import (
    ALLOWED_PREFIX,
    AUTO_PREFIX,
)

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


_metas: dict[tuple[bytes, bool], tuple] = {}


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
