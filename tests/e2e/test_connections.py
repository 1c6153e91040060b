"""A server process holds a bounded number of PostgreSQL connections, however many
requests arrive at once (uvicorn, real PostgreSQL)."""

import json
import os
import threading
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from tests.e2e.servers import server_database_url, uvicorn
from tests.factories import make_product

pytestmark = pytest.mark.django_db(transaction=True)

LISTING = """{ products(first: 20) { edges { node { name
  variants { sku price { amount } quantityAvailable } } } } }"""


def connections_named(application: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
            [application],
        )
        return cursor.fetchone()[0]


def post(base: str, query: str) -> dict:
    request = urllib.request.Request(
        f"{base}/graphql/",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def test_fifty_parallel_requests_use_at_most_the_pool(tmp_path):
    for n in range(5):
        make_product(name=f"Lamp {n}", variants=[{"price": "5"}, {"price": "7"}])
    application = f"shop-pool-{uuid.uuid4().hex[:8]}"
    env = os.environ | {
        "DATABASE_URL": server_database_url(),
        "DB_POOL_MAX_SIZE": "4",
        "DB_POOL_MIN_SIZE": "1",
        # libpq names every connection the server opens.
        "PGAPPNAME": application,
        # as in production: the cache listener's connection comes on top
        "GRAPHQL_RESPONSE_CACHE_LISTENER": "true",
    }
    with uvicorn(env, tmp_path / "server.log") as base:
        seen, done = [], threading.Event()

        def watch() -> None:
            try:
                while not done.is_set():
                    seen.append(connections_named(application))
                    time.sleep(0.02)
            finally:
                connection.close()

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            with ThreadPoolExecutor(max_workers=50) as clients:
                answers = list(clients.map(lambda _: post(base, LISTING), range(50)))
        finally:
            done.set()
            watcher.join()
            connection.close()

        assert all("errors" not in answer for answer in answers), answers[0]
        assert all(len(a["data"]["products"]["edges"]) == 5 for a in answers)
        # The pool's 4, and the cache invalidation listener's own connection
        # (shop.catalog.cache_tags.listen: LISTEN needs a session of its own).
        assert max(seen) <= 4 + 1, seen
        assert max(seen) >= 1  # the watcher did see the server's connections
        # Afterwards the pool keeps what it holds, not one connection per request.
        assert connections_named(application) <= 4 + 1
