"""Automatic persisted queries with a real Apollo Client: tests/e2e/apollo/apq.mjs
drives @apollo/client's PersistedQueryLink (sha256 from node:crypto) against a
uvicorn process, hashed queries over GET (useGETForHashedQueries, what a CDN can
cache) and over POST.

Each operation runs twice. The first time the client sends the hash alone, the
server answers PersistedQueryNotFound and the client sends the document with its
hash (registered); the second time the hash alone is sent and answered. Both
sides are checked: what the client sent (apq.mjs records each request), and what
the server saw (its request log lines).
"""

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest
from django_redis import get_redis_connection
from strawberry.relay import to_base64

from shop.core.persisted_queries import AUTO_PREFIX
from tests.e2e.servers import server_database_url, uvicorn
from tests.factories import make_product

ROOT = Path(__file__).resolve().parents[2]
APOLLO = ROOT / "tests" / "e2e" / "apollo"


@pytest.fixture
def server(django_db_setup, tmp_path):
    """uvicorn on the test database and Redis, logging one JSON line a request."""
    log = tmp_path / "server.log"
    env = {
        **os.environ,
        "DATABASE_URL": server_database_url(),
        "DJANGO_DEBUG": "false",
        "DJANGO_LOG_LEVEL": "INFO",
        "DJANGO_LOG_FORMAT": "json",
    }
    with uvicorn(env, log) as base:
        yield base, log


def graphql_requests(log: Path) -> list[dict]:
    """The server's request lines for /graphql/: method, status, error codes."""
    lines = []
    for text in log.read_text().splitlines():
        try:
            line = json.loads(text)
        except ValueError:
            continue
        if line.get("logger") == "shop.request" and line.get("path") == "/graphql/":
            lines.append(
                {
                    "method": line["method"],
                    "status": line["status"],
                    "errors": line.get("errors"),
                }
            )
    return lines


def run_apq(node: str, base: str, mode: str, variant_id: str) -> dict[str, dict]:
    result = subprocess.run(
        [node, "apq.mjs", base, mode, variant_id],
        cwd=APOLLO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    steps = {}
    for line in result.stdout.splitlines():
        step = json.loads(line)
        steps[step.pop("step")] = step
    assert result.returncode == 0, (steps, result.stderr)
    return steps


def without_typename(value):
    if isinstance(value, dict):
        return {k: without_typename(v) for k, v in value.items() if k != "__typename"}
    if isinstance(value, list):
        return [without_typename(item) for item in value]
    return value


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("mode", "hashed_method"), [("get", "GET"), ("post", "POST")])
def test_apollo_clients_persisted_query_link_sends_hashes_only_once_registered(
    node, server, mode, hashed_method
):
    base, log = server
    kettle = make_product(
        name="Kettle",
        slug="kettle",
        variants=[{"sku": "KETTLE", "price": "30", "quantity_available": 5}],
    )
    make_product(name="Teapot", slug="teapot", variants=[{"sku": "TEAPOT"}])
    variant_id = to_base64("ProductVariant", kettle.variants.get().pk)

    steps = run_apq(node, base, mode, variant_id)

    assert list(steps) == [
        "query:first",
        "query:second",
        "otherVariables",
        "mutation:first",
        "mutation:second",
    ]
    query_hash = steps["query:first"]["requests"][0]["hash"]
    assert len(query_hash) == 64
    # First use: the hash alone (GET in "get" mode), not found; then the document
    # with its hash, always POSTed (Apollo's retry).
    assert steps["query:first"]["requests"] == [
        {"method": hashed_method, "withDocument": False, "hash": query_hash},
        {"method": "POST", "withDocument": True, "hash": query_hash},
    ]
    # Second use: the hash alone, answered.
    assert steps["query:second"]["requests"] == [
        {"method": hashed_method, "withDocument": False, "hash": query_hash}
    ]
    kettle_data = {"product": {"name": "Kettle", "variants": [{"sku": "KETTLE"}]}}
    assert without_typename(steps["query:first"]["data"]) == kettle_data
    assert without_typename(steps["query:second"]["data"]) == kettle_data
    assert steps["otherVariables"]["requests"] == [
        {"method": hashed_method, "withDocument": False, "hash": query_hash}
    ]
    assert without_typename(steps["otherVariables"]["data"]) == {
        "product": {"name": "Teapot", "variants": [{"sku": "TEAPOT"}]}
    }

    # Mutations are never sent over GET: registered and then run by hash, POSTed.
    mutation_hash = steps["mutation:first"]["requests"][0]["hash"]
    assert steps["mutation:first"]["requests"] == [
        {"method": "POST", "withDocument": False, "hash": mutation_hash},
        {"method": "POST", "withDocument": True, "hash": mutation_hash},
    ]
    assert steps["mutation:second"]["requests"] == [
        {"method": "POST", "withDocument": False, "hash": mutation_hash}
    ]
    for round_ in ("first", "second"):
        payload = without_typename(steps[f"mutation:{round_}"]["data"])
        assert payload == {"cartLinesAdd": {"cart": {"totalQuantity": 1}, "errors": []}}

    # The server's side: what it was asked and answered, in order.
    not_found = ["PERSISTED_QUERY_NOT_FOUND"]
    assert graphql_requests(log) == [
        {"method": hashed_method, "status": 200, "errors": not_found},
        {"method": "POST", "status": 200, "errors": None},
        {"method": hashed_method, "status": 200, "errors": None},
        {"method": hashed_method, "status": 200, "errors": None},
        {"method": "POST", "status": 200, "errors": not_found},
        {"method": "POST", "status": 200, "errors": None},
        {"method": "POST", "status": 200, "errors": None},
    ]
    # Both documents are kept in Redis under their hashes.
    redis = get_redis_connection("default")
    for sha256_hash in (query_hash, mutation_hash):
        document = redis.get(AUTO_PREFIX + sha256_hash).decode()
        assert hashlib.sha256(document.encode()).hexdigest() == sha256_hash
