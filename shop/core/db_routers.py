"""Where reads go when the shop has PostgreSQL read replicas (DATABASE_REPLICA_URLS).

settings.py turns each replica URL into a database alias ``replica1``,
``replica2``... and installs ``ReplicaRouter`` and ``ReplicaReadsMiddleware`` only
then; without replicas neither exists and every query goes to ``default``.

A read goes to a replica only when all of these hold:

- it reads the catalog or its reviews (app labels in ``REPLICA_APPS``), the data of
  product lists and product pages, where a second of replication lag is harmless;
- it is served inside an open replica window: ``ReplicaReadsMiddleware`` gives
  each HTTP request to the GraphQL endpoint a window, closed until the GraphQL
  layer, having resolved the document (sent in full or named by a persisted-query
  hash) and the operation its ``operationName`` selects, calls
  ``allow_replica_reads()`` for a query; a mutation or anything else pins it to
  the primary (``pin_to_primary()``). The admin, the Stripe webhook and every
  other path get no window;
- nothing in the window has written yet (any write, a ``select_for_update`` or a
  ``get_or_create`` pins the rest of the window to the primary);
- no ``transaction.atomic`` block is open on the primary.

Everything else reads the primary: checkout, payments, stock, carts' checks,
accounts, orders, sessions, Celery tasks, management commands, the shell and
WebSocket subscriptions (no window is open there). One replica serves a whole
request, so its product list, prices and reviews come from one moment in time.
"""

import contextlib
import contextvars
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from django.db import DEFAULT_DB_ALIAS, connections
from django.http import HttpRequest, HttpResponseBase
from django.urls import reverse

# Database aliases named so (replica1, replica2...) are replicas of the primary.
REPLICA_ALIAS_PREFIX = "replica"

# Apps whose reads may be served a little behind the primary.
REPLICA_APPS = frozenset({"catalog", "reviews"})


@dataclass(eq=False)
class _Window:
    """The reads of one request. Shared by reference: a thread or asyncio task
    that copied the request's context pins the same window when it writes."""

    replica: str | None = None
    # Closed: reads go to the primary until allow_replica_reads().
    open: bool = True
    pinned: bool = False


_window: contextvars.ContextVar[_Window | None] = contextvars.ContextVar(
    "shop_replica_window", default=None
)


@contextlib.contextmanager
def replica_reads(*, closed: bool = False) -> Iterator[None]:
    """Within it, catalog and review reads may go to a replica until a write;
    ``closed``: only once ``allow_replica_reads()`` is called."""
    token = _window.set(_Window(open=not closed))
    try:
        yield
    finally:
        # Ended in another context than it began in: that context ends it anyway.
        with contextlib.suppress(ValueError):
            _window.reset(token)


def in_replica_window() -> bool:
    """Whether the current request has a replica window (open or not)."""
    return _window.get() is not None


def allow_replica_reads() -> None:
    """Opens the current window (if any), unless it is pinned to the primary."""
    window = _window.get()
    if window is not None:
        window.open = True


def pin_to_primary() -> None:
    """The rest of the current window (if any) reads the primary."""
    window = _window.get()
    if window is not None:
        window.pinned = True


def replica_aliases() -> list[str]:
    """The configured replica aliases, in order."""
    return [alias for alias in connections if alias.startswith(REPLICA_ALIAS_PREFIX)]


class ReplicaRouter:
    """Catalog and review reads in a replica window go to a replica; every other
    read, every write and every migration goes to the primary (see the module)."""

    def __init__(self, replicas: list[str] | None = None) -> None:
        self.replicas = list(replicas if replicas is not None else replica_aliases())
        self.databases = {DEFAULT_DB_ALIAS, *self.replicas}

    def db_for_read(self, model, **hints) -> str:
        window = _window.get()
        if (
            window is None
            or window.pinned
            or not window.open
            or not self.replicas
            or model._meta.app_label not in REPLICA_APPS
            # Checkout, payments and stock read and lock in atomic blocks.
            or connections[DEFAULT_DB_ALIAS].in_atomic_block
        ):
            # Named, not None: Django would otherwise follow a related instance
            # (a review's author read from a replica) to its database.
            return DEFAULT_DB_ALIAS
        if window.replica is None:
            window.replica = random.choice(self.replicas)
        return window.replica

    def db_for_write(self, model, **hints) -> str:
        # What this request reads next must see what it wrote (a mutation's
        # payload, a page after a save): the primary from now on.
        pin_to_primary()
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints) -> bool | None:
        # A replica holds the primary's rows: the same database.
        if {obj1._state.db, obj2._state.db} <= self.databases:
            return True
        return None

    def allow_migrate(self, db: str, app_label: str, **hints) -> bool:
        # Replicas follow the primary's schema through replication.
        return db == DEFAULT_DB_ALIAS


class ReplicaReadsMiddleware:
    """Gives an HTTP request to the GraphQL endpoint (GET or POST) a closed replica
    window, which the GraphQL layer opens for a query (``allow_replica_reads``)
    once it knows the operation. Any other request (the admin, webhooks, probes)
    reads only the primary. The body is not read here: the view reads it once."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]):
        self.get_response = get_response
        self._graphql_path: str | None = None

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if self._graphql_path is None:
            self._graphql_path = reverse("graphql")
        if request.path_info != self._graphql_path or request.method not in (
            "GET",
            "HEAD",
            "POST",
        ):
            return self.get_response(request)
        with replica_reads(closed=True):
            return self.get_response(request)
