"""The catalog's version: a token in Redis that changes, once the transaction
commits, whenever anything a shopper can read in the catalog changes.

Caches of catalog answers (schema.response_cache) keep each answer with the
version it was computed under and serve it only while the version is still the
same, so a change is visible to the next request after its commit.

What counts as a change: any INSERT, UPDATE, DELETE, MERGE or TRUNCATE that
Django sends to a catalog table (categories, products, variants, attributes,
attribute values, attribute assignments, reviews), and any UPDATE of a user's
first or last name (a review shows its author's public name). The statements are
seen where Django executes them (an execute wrapper on every database
connection), not through model signals, so nothing can write the catalog without
changing the version: ``save()`` and ``delete()`` with their cascades, but also
``QuerySet.update()`` with ``F()`` arithmetic (stock in shop.catalog.stock, review
aggregates in shop.reviews.services, the denormalised prices), ``bulk_create``,
the admin's bulk actions and raw SQL run through Django's cursors. A transaction
changes the version once, when it commits; a rolled-back one never does. Writes
Django's cursor does not execute do not: psycopg's ``cursor.copy()`` (COPY goes
around execute wrappers) and anything outside Django (psql, another program):
call ``catalog_changed()`` in such a transaction, or ``catalog_version_bump()``
after it.

The version is a random token, not a counter: if Redis loses the key (a restart
or an eviction), the next reader sets a new random one, so an entry computed
under an earlier version can never match by chance. It carries the time of the
change on Redis's clock (``<token>:<microseconds>``): with read replicas, a cache
keeps no answer computed within REPLICA_LAG_SECONDS of the last change (see
``replica_lag_seconds``).
"""

import logging
import re
import uuid

from django.conf import settings
from django.db import connections, transaction
from django.db.backends.signals import connection_created

logger = logging.getLogger(__name__)

# Read by schema.response_cache; the Redis key is prefixed with KEY_PREFIX.
VERSION_KEY = "catalog:version"

# What a shopper reads: every change to these tables changes the version.
CATALOG_MODELS = (
    "catalog.Category",
    "catalog.Product",
    "catalog.ProductVariant",
    "catalog.Attribute",
    "catalog.AttributeValue",
    "catalog.AssignedAttribute",
    "reviews.Review",
)
# The user columns reviews show (User.public_name); sign-ins (last_login) and
# password changes leave the catalog alone.
USER_COLUMNS = ("first_name", "last_name")

_WRITE = re.compile(
    r"\s*(?P<verb>INSERT|UPDATE|DELETE|MERGE|TRUNCATE)\b", re.IGNORECASE
)
_patterns: tuple[re.Pattern, re.Pattern, re.Pattern] | None = None


def version_key() -> str:
    """The Redis key of the catalog version (raw, not a django-redis cache key)."""
    prefix = settings.CACHES["default"].get("KEY_PREFIX") or ""
    return f"{prefix}:{VERSION_KEY}" if prefix else VERSION_KEY


def new_version() -> str:
    """A version token never used before (``VERSION_SET`` adds the time)."""
    return uuid.uuid4().hex


# KEYS[1]: the version key; ARGV[1]: a new token; ARGV[2]: "always" (a change) or
# "if-missing" (a reader found no version). Sets ``<token>:<now>``, now being
# Redis's own clock in microseconds, so that every process compares times on one
# clock; returns the version in force. With ``if-missing`` an existing version is
# returned as it is.
VERSION_SET = """
if ARGV[2] == 'if-missing' then
  local current = redis.call('GET', KEYS[1])
  if current then
    return current
  end
end
local now = redis.call('TIME')
local version = ARGV[1] .. ':' .. now[1] .. string.format('%06d', tonumber(now[2]))
redis.call('SET', KEYS[1], version)
return version
"""


def version_changed_at(version: bytes) -> float | None:
    """When the catalog took ``version``, in seconds on Redis's clock (None for a
    version without a time)."""
    token, _, stamp = version.rpartition(b":")
    if not token or not stamp.isdigit():
        return None
    return int(stamp) / 1_000_000


def catalog_version_bump() -> None:
    """Give the catalog a new version now.

    Never raises: a Redis outage is logged and the caller's commit stands. Cached
    answers may then be served stale until their TTL
    (GRAPHQL_RESPONSE_CACHE_TTL) ends or the next change gets through.
    """
    from django_redis import get_redis_connection

    try:
        get_redis_connection("default").eval(
            VERSION_SET, 1, version_key(), new_version(), "always"
        )
    except Exception:
        logger.warning(
            "The catalog version was not changed (Redis): cached catalog answers "
            "may be stale until GRAPHQL_RESPONSE_CACHE_TTL ends",
            exc_info=True,
        )


# ---------------------------------------------------------------- read replicas

# With DATABASE_REPLICA_URLS, GraphQL reads of the catalog go to a replica, which
# may not have replayed a change yet when the version changes: an answer computed
# just after it could hold the old rows under the new version. So a cache keeps no
# answer whose computation began less than this long after the last change (the
# version's time; the cache reads Redis's clock with the version, before Django
# runs). That is decided by the reader, from what is in Redis: nothing has to
# happen later, so it holds whatever becomes of the process that made the change
# (a management command, a one-liner, a killed worker). A replica lagging longer
# than this can still leave a stale answer until GRAPHQL_RESPONSE_CACHE_TTL.
REPLICA_LAG_SECONDS = 2.0


def _replicas_configured() -> bool:
    return any(alias.startswith("replica") for alias in settings.DATABASES)


def replica_lag_seconds() -> float:
    """How long after a change a cache keeps no answer: REPLICA_LAG_SECONDS with
    read replicas, 0 without."""
    return REPLICA_LAG_SECONDS if _replicas_configured() else 0.0


def catalog_changed(*, using: str = "default") -> None:
    """The catalog changed in the current transaction of ``using``: change the
    version when it commits (at once in autocommit). Once per transaction."""
    connection = connections[using]
    if connection.in_atomic_block and any(
        callback is catalog_version_bump for _, callback, _ in connection.run_on_commit
    ):
        return
    try:
        transaction.on_commit(catalog_version_bump, using=using, robust=True)
    except transaction.TransactionManagementError:
        # Manual transaction management (autocommit off, no atomic block): the
        # commit time is unknown; change it now rather than never.
        catalog_version_bump()


# ---------------------------------------------------------------- watching SQL


def _compiled() -> tuple[re.Pattern, re.Pattern, re.Pattern]:
    global _patterns
    if _patterns is None:
        from django.apps import apps
        from django.contrib.auth import get_user_model

        tables = [apps.get_model(label)._meta.db_table for label in CATALOG_MODELS]
        user = get_user_model()
        columns = [user._meta.get_field(name).column for name in USER_COLUMNS]
        _patterns = (
            _any_word(tables),
            _any_word([user._meta.db_table]),
            _any_word(columns),
        )
    return _patterns


def _any_word(words: list[str]) -> re.Pattern:
    return re.compile(r"\b(?:" + "|".join(map(re.escape, words)) + r")\b")


def writes_catalog(sql: str) -> bool:
    """Whether this SQL statement may change what the catalog shows."""
    write = _WRITE.match(sql)
    if write is None:
        return False
    try:
        tables, user_table, user_columns = _compiled()
    except Exception:  # the models are not loaded yet: assume the worst
        return True
    if tables.search(sql):
        return True
    return bool(
        write["verb"].upper() == "UPDATE"
        and user_table.search(sql)
        and user_columns.search(sql)
    )


def _watch(execute, sql, params, many, context):
    result = execute(sql, params, many, context)
    text = sql if isinstance(sql, str) else str(sql)
    if writes_catalog(text):
        catalog_changed(using=context["connection"].alias)
    return result


def _install(sender, connection, **kwargs) -> None:
    # First in the list: a test's ``with connection.execute_wrapper(...)`` pops
    # the last one when it ends, which must stay its own.
    if _watch not in connection.execute_wrappers:
        connection.execute_wrappers.insert(0, _watch)


def watch_catalog_writes() -> None:
    """Watch every database connection, open or future, for catalog writes."""
    connection_created.connect(_install, dispatch_uid="catalog.cache_version")
    for connection in connections.all(initialized_only=True):
        _install(None, connection)
