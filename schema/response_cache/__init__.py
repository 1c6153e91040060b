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
3. Looks the request up in one Redis round trip (a script: the entry and the
   current versions of its tags, whether its document is registered when that
   decides how Django answers it, and Redis's clock), keyed by the SHA-256 of the
   document (the hash an Apollo
   persisted-query request names, so a hash-only request shares the entry of the
   full text), the variables the operation declares as it receives them (coerced,
   defaults applied: undeclared ones never reach the answer), the operation name,
   the Origin (CORS headers differ by origin) and whether the request is HTTPS
   (HSTS). An entry whose tags all still have the versions it recorded is
   answered at once: status, the headers Django produced for it (security,
   CORS), a new ``X-Request-ID``, ``X-Cache: HIT``; no thread, no database, no
   GraphQL.
4. Otherwise hands the request to Django (a POST body it read is replayed),
   collecting the tags of what Django reads (shop.catalog.cache_tags), and for a
   cacheable document keeps the answer with them, unless one of them changed
   after the lookup read Redis's clock (then a change committed meanwhile may be
   missing from it). Writes change their tags' versions when they commit
   (shop.catalog.cache_tags): entries.py says why a hit is never stale.

The package: ``keys`` (what identifies an answer), ``entries`` (what an entry
holds, the lookup and store scripts), ``http`` (HTTP as Django reads it, the
headers the cache adds), ``redis`` (redis-py's client), ``middleware`` (the ASGI
application). Invalidation is shop.catalog.cache_tags's: the database triggers
that see every write, and their delivery to Redis.

Cacheable: a single ``query`` whose root fields are all catalog reads
(``ROOT_FIELDS``: never ``node``, ``nodes``, ``cart``, ``me``, orders, nor
introspection), answered 200 with JSON, no ``errors``, no cookie set, at most
GRAPHQL_RESPONSE_CACHE_MAX_BYTES. Anonymous cacheable GETs say
``Cache-Control: public, max-age=GRAPHQL_CACHE_MAX_AGE`` and ``Vary:
Authorization`` (a CDN or browser keeps them that long, or until the answer's
time boundary; a CDN that purges by tag gets ``Surrogate-Key`` and ``Cache-Tag``:
shop.core.cdn);
POST answers carry no Cache-Control (HTTP caches never keep them) but share the
server-side entries.

What is kept is bounded (``_STORE``): per window of GRAPHQL_RESPONSE_CACHE_TTL,
GRAPHQL_RESPONSE_CACHE_CLIENT_BYTES of entries per client (allow-listed documents
aside) and GRAPHQL_RESPONSE_CACHE_TOTAL_BYTES in all. A document that must be
registered to run (allow-list mode, a hash-only request) is answered and kept
only while it is: a removal from the allow-list stops both at once (and this
process forgets the document, so Django refuses it). With read replicas, no
answer is kept whose tags changed within REPLICA_LAG_SECONDS before its request
(entries.replica_lag_seconds).

Redis down: the cache is skipped for a few seconds at a time (one warning per
outage), every request goes to Django; nothing fails because of it. A write
committed while Redis was down keeps its tags pending in the database until a
later flush sends them (the listener retries every few seconds). A ``rediss://``
URL's ``ssl_*`` options are honoured as redis-py honours them for the rest of the
shop.
"""

from schema.response_cache.middleware import ResponseCache
from schema.response_cache.redis import RedisConnection, RedisReplyError

__all__ = ["RedisConnection", "RedisReplyError", "ResponseCache"]
