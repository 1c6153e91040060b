"""Cache tags: what a cached catalog answer was built from, and how a write that
changes any of it reaches Redis.

**Tags.** A cached answer (schema.response_cache) records the tags of everything
it was built from:

- an entity tag for each row it read: ``product-<id>`` (a product, with its
  variants, attribute assignments and reviews: they are reached only through it),
  ``variant-<id>`` (a variant read without its product id), ``category-<id>``,
  ``attribute-<id>`` (an attribute with its values), ``attribute-value-<id>``,
  ``review-<id>`` (a review read without its product id), ``user-<id>`` (a
  reviewer's public name). Rows are recorded where Django builds model instances
  (``Model.from_db``), so every read counts, whatever resolver or prefetch made it;
- a list tag for each list it depends on (a membership or an order the answer
  shows): ``products`` for any product list or a product looked up and not found
  (created, deleted, published, moved, its slug or creation time changed; a variant
  created, deleted, moved or its SKU changed), and what its filters and sort read:
  ``products-price``, ``products-stock`` (a variant's stock crossing zero),
  ``products-name``, ``products-search``, ``products-rating``,
  ``products-attributes``; ``categories`` (the tree, a category filter, a category
  not found), ``attributes``, ``shipping`` (the shipping methods) and ``sales``
  (any answer showing prices: shop.discounts.sales.prices_read);
- a time boundary (``valid_until``): an answer true only until a moment (a
  scheduled price) is kept no longer, and GETs say so in their max-age;
- ``*``, on every answer: changing it empties the whole cache (a TRUNCATE, a bulk
  statement over more than BULK_ROWS rows, ``invalidate_all()``); and ``catalog``
  instead of the entity and list tags when an answer has more than MAX_TAGS of
  them (it is then invalidated by any catalog change, as every answer once was).

**Writes.** The database is the one place that sees every write: services, the
admin, ``QuerySet.update()``, ``bulk_create``, raw SQL, migrations, ``COPY``,
other programs. Statement-level triggers on the catalog's tables (migration catalog
0005) compare each statement's old and new rows and insert the tags it changed into
``catalog_cacheinvalidation``, in the writing transaction, and ``NOTIFY
shop_cache``: a rolled-back write leaves nothing, a committed one leaves its tags.

**Delivery.** ``flush()`` reads the pending tags, gives each a new version in Redis
(``BUMP``) and only then deletes them:

- Django processes flush on commit: an execute wrapper on every connection sees a
  catalog write and registers ``flush`` with ``on_commit``. The writer's own tags
  are committed before it runs, so it either finds them and sends them, or finds
  them deleted by a flush that had already sent them: when the writing call
  returns, its change is in Redis. That is the guarantee the
  response cache builds on (a request starting later never gets an entry from
  before the write);
- writes from outside Django (psql, another program, psycopg's ``COPY``) are
  flushed by ``listen()``, a thread of each web process woken by the NOTIFY,
  within milliseconds, and at least every LISTEN_SECONDS (a lost notification, a
  Redis outage: pending tags stay in the table until a flush gets them to Redis).

SQLite (the embedded mode) has no such triggers: there any catalog write empties
the cache on commit (``*``), as the one global version did.
"""

import contextlib
import contextvars
import logging
import os
import re
import threading
from collections.abc import Iterable, Iterator
from datetime import datetime

from django.conf import settings
from django.db import connections, transaction
from django.db.backends.signals import connection_created

logger = logging.getLogger(__name__)

ALL = "*"
CATALOG = "catalog"
# The list tags (what lists an answer depends on), as the triggers of migrations
# catalog 0005, shipping 0002 and taxes 0003 write them.
PRODUCTS = "products"
PRODUCTS_PRICE = "products-price"
PRODUCTS_STOCK = "products-stock"
PRODUCTS_NAME = "products-name"
PRODUCTS_SEARCH = "products-search"
PRODUCTS_RATING = "products-rating"
PRODUCTS_ATTRIBUTES = "products-attributes"
CATEGORIES = "categories"
ATTRIBUTES = "attributes"
SHIPPING = "shipping"
SALES = "sales"
LIST_TAGS = (
    PRODUCTS,
    PRODUCTS_PRICE,
    PRODUCTS_STOCK,
    PRODUCTS_NAME,
    PRODUCTS_SEARCH,
    PRODUCTS_RATING,
    PRODUCTS_ATTRIBUTES,
    CATEGORIES,
    ATTRIBUTES,
    SHIPPING,
    SALES,
)
# Entity and list tags one answer may record before it falls back to CATALOG.
MAX_TAGS = 200
# A statement touching more rows than this records ALL (migration catalog 0005).
BULK_ROWS = 1000
# How often listen() flushes when no notification came.
LISTEN_SECONDS = 5.0
CHANNEL = "shop_cache"

# ---------------------------------------------------------------- collecting

_collecting: contextvars.ContextVar[set[str] | None] = contextvars.ContextVar(
    "shop_cache_tags", default=None
)


@contextlib.contextmanager
def collecting() -> Iterator[set[str]]:
    """Collect the tags of what the block reads (threads started from it with
    asgiref's sync_to_async share the set)."""
    tags: set[str] = set()
    token = _collecting.set(tags)
    try:
        yield tags
    finally:
        _collecting.reset(token)


def start_collecting() -> tuple[set[str], contextvars.Token]:
    """``collecting()`` for code that cannot use a with block (an ASGI
    middleware awaiting the application); end with ``stop_collecting``."""
    tags: set[str] = set()
    return tags, _collecting.set(tags)


def stop_collecting(token: contextvars.Token) -> None:
    _collecting.reset(token)


def record_first(tag: str) -> bool:
    """Record ``tag``; True when the answer being built had not recorded it yet
    (False as well when nobody collects), for work to do once per answer."""
    collected = _collecting.get()
    if collected is None or tag in collected:
        return False
    collected.add(tag)
    return True


def record(*tags: str) -> None:
    """The answer being built depends on ``tags`` (nothing when nobody collects)."""
    collected = _collecting.get()
    if collected is not None:
        collected.update(tags)


# A time boundary is collected as a tag of its own: "@until:<Unix time>".
_UNTIL = "@until:"


def valid_until(moment: datetime) -> None:
    """The answer being built is true only until ``moment`` (a scheduled change:
    a sale that starts or ends, anything with a time boundary): it is kept, and
    told cacheable to CDNs and browsers, no longer than that."""
    record(f"{_UNTIL}{moment.timestamp():.6f}")


def answer_until(collected: Iterable[str]) -> float | None:
    """The earliest time boundary the answer recorded (Unix time), if any."""
    times = [float(tag[len(_UNTIL) :]) for tag in collected if tag.startswith(_UNTIL)]
    return min(times) if times else None


def answer_tags(collected: Iterable[str]) -> list[str]:
    """What an answer stores: ``*`` and its tags, or ``*`` and ``catalog`` when
    there are more than MAX_TAGS (sorted, for stable headers and entries)."""
    tags = sorted(
        tag for tag in set(collected) - {ALL, CATALOG} if not tag.startswith(_UNTIL)
    )
    if len(tags) > MAX_TAGS:
        return [ALL, CATALOG]
    return [ALL, *tags]


# Which tag a row read records: (model label, the parent's foreign key column,
# the parent's tag prefix, the row's own tag prefix). A row whose parent id was
# loaded records its parent (a variant records its product); otherwise its own tag
# (the triggers change both).
_ROW_TAGS = {
    "catalog.Product": (None, None, "product"),
    "catalog.ProductVariant": ("product_id", "product", "variant"),
    "catalog.Category": (None, None, "category"),
    "catalog.Attribute": (None, None, "attribute"),
    "catalog.AttributeValue": ("attribute_id", "attribute", "attribute-value"),
    "reviews.Review": ("product_id", "product", "review"),
    "catalog.ProductMedia": ("product_id", "product", "media"),
}


def _row_tag(rule: tuple, parent_id, pk) -> str | None:
    """The rule of _ROW_TAGS: the parent's tag when its id was read, else the
    row's own (None for a join that found no row)."""
    _parent_column, parent, own = rule
    if parent_id is not None:
        return f"{parent}-{parent_id}"
    return None if pk is None else f"{own}-{pk}"


def _row_recorder(rule: tuple):
    parent_column = rule[0]

    def tag_of(instance) -> str:
        parent_id = instance.__dict__.get(parent_column) if parent_column else None
        return _row_tag(rule, parent_id, instance.pk)

    return tag_of


def values_tag(model, row, prefix: str = "") -> str | None:
    """The tag a row of ``model`` read as values (``row[prefix + column]``)
    records, by the same rule as an instance (None: the model records none, or
    the row is a join that found none)."""
    rule = _ROW_TAGS.get(model._meta.label)
    if rule is None:
        return None
    parent_column = rule[0]
    parent_id = row.get(prefix + parent_column) if parent_column else None
    return _row_tag(rule, parent_id, row[prefix + model._meta.pk.attname])


def values_taggable(model) -> bool:
    """Whether ``values_tag`` tags ``model``'s rows as its instances tag
    themselves (true too for a model whose instances record nothing)."""
    return model._meta.label in _ROW_TAGS or not getattr(
        model, "_shop_cache_tagged", False
    )


def tags_collecting() -> bool:
    """Whether an answer's tags are being collected now."""
    return _collecting.get() is not None


def _user_tag(instance) -> str:
    return f"user-{instance.pk}"


def _tagging_from_db(model, tag_of):
    """``model.from_db`` recording each row's tag while a collector is active.
    Assignments (catalog.AssignedAttribute) record nothing: they are reached only
    through their product or variant, which record theirs."""
    original = model.__dict__.get("from_db")
    base = original.__func__ if original is not None else None

    @classmethod
    def from_db(cls, db, field_names, values):
        if base is not None:
            instance = base(cls, db, field_names, values)
        else:
            instance = super(model, cls).from_db(db, field_names, values)
        collected = _collecting.get()
        if collected is not None:
            collected.add(tag_of(instance))
        return instance

    return from_db


def install_row_tags() -> None:
    """Make the catalog's models (and the user model, for reviewers' names) record
    their tags when read. Called once, from the catalog app's ready()."""
    from django.apps import apps
    from django.contrib.auth import get_user_model

    for label, rule in _ROW_TAGS.items():
        model = apps.get_model(label)
        if not getattr(model, "_shop_cache_tagged", False):
            model.from_db = _tagging_from_db(model, _row_recorder(rule))
            model._shop_cache_tagged = True
    user = get_user_model()
    if not getattr(user, "_shop_cache_tagged", False):
        user.from_db = _tagging_from_db(user, _user_tag)
        user._shop_cache_tagged = True


# ---------------------------------------------------------------- Redis


def _prefix() -> str:
    prefix = settings.CACHES["default"].get("KEY_PREFIX") or ""
    return f"{prefix}:" if prefix else ""


def tag_key_prefix() -> str:
    """The Redis keys of tags' versions are this prefix and the tag."""
    return f"{_prefix()}gql:tag:"


# A tag's version is "<microseconds>-<token>": Redis's clock when it changed and a
# random token. Answers are valid while every tag's version is the one they
# recorded (equality: a lost key never matches), and an answer is kept only if
# none of its tags changed since its request started (the time part). ARGV[1]: the
# key prefix, ARGV[2]: a random token, ARGV[3...]: the tags. CATALOG changes with
# every tag (answers too large to list their tags depend on it).
BUMP = """
local now = redis.call('TIME')
local version = now[1] .. string.format('%06d', tonumber(now[2])) .. '-' .. ARGV[2]
redis.call('SET', ARGV[1] .. 'catalog', version)
for i = 3, #ARGV do
  redis.call('SET', ARGV[1] .. ARGV[i], version)
end
return version
"""


def bump(tags: Iterable[str]) -> None:
    """Give each tag (and CATALOG) a new version now. Raises on a Redis error."""
    from django_redis import get_redis_connection

    tags = sorted(set(tags))
    if not tags:
        return
    get_redis_connection("default").eval(
        BUMP, 0, tag_key_prefix(), os.urandom(6).hex(), *tags
    )


def invalidate_all() -> None:
    """Empty the response cache now (every answer records ``*``). Never raises: a
    Redis outage is logged, and cached answers may then be served until
    GRAPHQL_RESPONSE_CACHE_TTL ends."""
    purge_later([ALL])
    try:
        bump([ALL])
    except Exception:
        logger.warning(
            "The response cache was not emptied (Redis): cached catalog answers "
            "may be stale until GRAPHQL_RESPONSE_CACHE_TTL ends",
            exc_info=True,
        )


# ---------------------------------------------------------------- flushing

PENDING_SQL = "SELECT id, tag FROM catalog_cacheinvalidation ORDER BY id LIMIT %s"
FLUSH_BATCH = 5000


def _flush_batch(cursor) -> int:
    """One batch of pending tags to Redis (and the CDN), then deleted; how many
    were sent.

    No locks: two flushes at once may both send the same rows (a tag changed twice
    within a millisecond costs an extra miss, nothing else), but a row is deleted
    only after a flush sent it, so a writer that finds its rows gone knows they are
    in Redis, and one that finds them sends them itself: either way they are there
    when its flush returns. Each statement commits on its own (autocommit)."""
    cursor.execute(PENDING_SQL, [FLUSH_BATCH])
    rows = cursor.fetchall()
    if rows:
        tags = {tag for _, tag in rows}
        bump(tags)
        purge_later(tags)
        cursor.execute(
            "DELETE FROM catalog_cacheinvalidation WHERE id = ANY(%s)",
            [[row_id for row_id, _ in rows]],
        )
    return len(rows)


def flush(*, using: str = "default") -> int:
    """Send the committed writes' pending tags to Redis, then delete them; how many
    were sent (a writer's own tags are in Redis when this returns: see
    ``_flush_batch``). Raises on a Redis or database error: the tags stay
    pending."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        bump([ALL])
        purge_later([ALL])
        return 1
    sent = 0
    while True:
        with connection.cursor() as cursor:
            batch = _flush_batch(cursor)
        sent += batch
        if batch < FLUSH_BATCH:
            return sent


def purge_later(tags) -> None:
    """Have the CDN drop what it keeps under these tags (GRAPHQL_CACHE_PURGE; a
    Celery task, so that the CDN's API is never waited for here)."""
    if not settings.GRAPHQL_CACHE_PURGE:
        return
    from celery import current_app

    try:
        current_app.tasks["workers.tasks.cdn.cdn_purge"].delay(sorted(tags))
    except Exception:
        logger.exception("The CDN purge of %s tags was not enqueued", len(tags))


def flush_on_commit(*, using: str = "default") -> None:
    """``flush`` as an on-commit callback: never raises (the commit stands; the
    tags stay pending for the next flush or the listener)."""
    try:
        flush(using=using)
    except Exception:
        logger.warning(
            "Catalog changes were not sent to the response cache yet (they stay "
            "pending and are sent by the next flush)",
            exc_info=True,
        )


def catalog_changed(*, using: str = "default") -> None:
    """The catalog changed in the current transaction of ``using``: flush when it
    commits (at once in autocommit). Once per transaction."""
    connection = connections[using]
    if connection.in_atomic_block and any(
        getattr(callback, "_shop_flush", False)
        for _, callback, _ in connection.run_on_commit
    ):
        return

    def callback() -> None:
        flush_on_commit(using=using)

    callback._shop_flush = True
    # Manual transaction management (autocommit off, no atomic block) refuses
    # on_commit: the commit time is unknown, and the listener sends the tags once
    # it happens (sending them before would let an answer from before the commit
    # be kept under the new versions).
    with contextlib.suppress(transaction.TransactionManagementError):
        transaction.on_commit(callback, using=using, robust=True)


def changed_everything(*, using: str = "default") -> None:
    """Anything in the catalog may have changed in the current transaction (a bulk
    load with the triggers off): every cached answer goes when it commits."""
    if connections[using].vendor == "postgresql":
        with connections[using].cursor() as cursor:
            cursor.execute(
                "INSERT INTO catalog_cacheinvalidation (tag) VALUES (%s)", [ALL]
            )
    catalog_changed(using=using)


# ---------------------------------------------------------------- watching SQL

# What a shopper reads: a write to these tables (or to a user's name) has tags.
CATALOG_MODELS = (
    "catalog.Category",
    "catalog.Product",
    "catalog.ProductVariant",
    "catalog.Attribute",
    "catalog.AttributeValue",
    "catalog.AssignedAttribute",
    "catalog.ProductMedia",
    "catalog.ProductMedia_variants",
    "reviews.Review",
    "shipping.ShippingZone",
    "shipping.ShippingMethod",
    "taxes.TaxClass",
    "taxes.TaxRate",
    "discounts.Sale",
    "discounts.Sale_products",
    "discounts.Sale_categories",
    "discounts.Sale_variants",
    "discounts.SalesApplied",
)
USER_COLUMNS = ("first_name", "last_name")
_WRITE = re.compile(
    r"\s*(?P<verb>INSERT|UPDATE|DELETE|MERGE|TRUNCATE|COPY)\b", re.IGNORECASE
)
_patterns: tuple[re.Pattern, re.Pattern, re.Pattern] | None = None


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
    """Whether this SQL statement may change what the catalog shows (then the
    triggers left tags to flush on commit)."""
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
    connection_created.connect(_install, dispatch_uid="catalog.cache_tags")
    for connection in connections.all(initialized_only=True):
        _install(None, connection)


# ---------------------------------------------------------------- listening

_listener: threading.Thread | None = None
_listener_lock = threading.Lock()


def listen_in_background() -> None:
    """Start ``listen()`` in a daemon thread of this process, once (PostgreSQL
    only). The response cache starts it with its first request."""
    global _listener
    if _listener is not None and _listener.is_alive():
        return
    if connections["default"].vendor != "postgresql":
        return
    with _listener_lock:
        if _listener is not None and _listener.is_alive():
            return
        _listener = threading.Thread(
            target=listen, name="shop-cache-listener", daemon=True
        )
        _listener.start()


def listen(*, stop: threading.Event | None = None) -> None:
    """Flush whenever a write's NOTIFY arrives, and every LISTEN_SECONDS, until
    ``stop`` is set. On one connection of its own (reopened after a failure),
    outside the process's pool: LISTEN needs a session, and the flushes use it
    too, so a web process holds one connection more than its pool."""
    import psycopg

    stop = stop or threading.Event()
    while not stop.is_set():
        try:
            params = connections["default"].get_connection_params()
            for option in ("cursor_factory", "context", "prepare_threshold"):
                params.pop(option, None)
            with psycopg.connect(**params, autocommit=True) as listening:
                listening.execute(f"LISTEN {CHANNEL}")
                while not stop.is_set():
                    _flush_pending(listening)
                    for _ in listening.notifies(timeout=LISTEN_SECONDS, stop_after=1):
                        pass
        except Exception:
            logger.warning(
                "The cache invalidation listener lost its connection; retrying",
                exc_info=True,
            )
            stop.wait(1.0)


def _flush_pending(listening) -> None:
    try:
        while True:
            with listening.cursor() as cursor:
                batch = _flush_batch(cursor)
            if batch < FLUSH_BATCH:
                return
    except Exception:
        logger.warning(
            "Pending catalog changes could not be sent to the response cache "
            "(retried every %s s)",
            LISTEN_SECONDS,
            exc_info=True,
        )
