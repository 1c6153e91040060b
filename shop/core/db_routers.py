"""Where reads go when the shop has PostgreSQL read replicas (DATABASE_REPLICA_URLS).

settings.py turns each replica URL into a database alias ``replica1``,
``replica2``... and installs ``ReplicaRouter`` and ``ReplicaReadsMiddleware`` only
then; without replicas neither exists and every query goes to ``default``.

A read goes to a replica only when all of these hold:

- it reads the catalog or its reviews (app labels in ``REPLICA_APPS``), the data of
  product lists and product pages, where a second of replication lag is harmless;
- it is served inside a replica window: ``ReplicaReadsMiddleware`` opens one for an
  HTTP request asking the GraphQL endpoint for a query, never for a mutation, the
  admin, the Stripe webhook or anything else;
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
import json
import random
import re
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
    pinned: bool = False


_window: contextvars.ContextVar[_Window | None] = contextvars.ContextVar(
    "shop_replica_window", default=None
)


@contextlib.contextmanager
def replica_reads() -> Iterator[None]:
    """Within it, catalog and review reads may go to a replica until a write."""
    token = _window.set(_Window())
    try:
        yield
    finally:
        # Ended in another context than it began in: that context ends it anyway.
        with contextlib.suppress(ValueError):
            _window.reset(token)


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


# The keyword every mutation operation starts with. A document holding the word
# anywhere else (a comment, a string) is served by the primary too: never wrong,
# only slower.
_MUTATION_KEYWORD = re.compile(r"\bmutation\b")


class ReplicaReadsMiddleware:
    """Opens a replica window for an HTTP request asking the GraphQL endpoint for
    a query (GET ?query=, or a POSTed JSON document without a mutation). Any other
    request (mutations, the admin, webhooks, probes) reads only the primary."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]):
        self.get_response = get_response
        self._graphql_path: str | None = None

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if not self._asks_for_a_query(request):
            return self.get_response(request)
        with replica_reads():
            return self.get_response(request)

    def _asks_for_a_query(self, request: HttpRequest) -> bool:
        if self._graphql_path is None:
            self._graphql_path = reverse("graphql")
        if request.path_info != self._graphql_path:
            return False
        if request.method in ("GET", "HEAD"):
            document = request.GET.get("query")
        elif request.method == "POST" and request.content_type == "application/json":
            try:
                body = json.loads(request.body)
            except Exception:
                # Too big, not JSON, nested too deeply: the view answers it, and
                # whatever it reads meanwhile comes from the primary.
                return False
            document = body.get("query") if isinstance(body, dict) else None
        else:
            return False
        return isinstance(document, str) and not _MUTATION_KEYWORD.search(document)
