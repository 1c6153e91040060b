"""/metrics: off by default, a bearer token when set, HTTP requests, GraphQL
operations and Celery task outcomes (a real worker, real Redis); several gunicorn
workers add up."""

import json
import os
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from celery.contrib.testing.worker import start_worker
from django.test import Client
from django.utils import timezone
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.parser import text_string_to_metric_families

from schema.plans import PLANS
from shop.core import metrics
from shop.orders.models import Order
from tests.e2e.servers import gunicorn, server_database_url
from tests.factories import make_product
from tests.orders_helpers import guest_cart, guest_checkout
from workers import app
from workers.tasks.orders import orders_expire_task
from workers.tasks.payments import payment_refund_task

TOKEN = "metrics-scrape-token-0123456789"
FACETS = "query Facets { attributes { slug } }"
RENAME = 'mutation Rename { accountUpdate(firstName: "Ada") { errors { code } } }'
BAD_LOGIN = """mutation SignIn { tokenAuth(email: "nobody@example.com",
  password: "wrong password 1") { errors { code } } }"""


def samples(text: str) -> dict[tuple, float]:
    """{(sample name, sorted labels...): value} of a /metrics answer."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, *sorted(sample.labels.items()))] = sample.value
    return found


def value(found: dict, metric: str, /, **labels) -> float:
    return found.get((metric, *sorted(labels.items())), 0.0)


def scrape(client: Client, token: str | None = None) -> dict[tuple, float]:
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    return samples(response.content.decode())


def post(client: Client, query: str, status: int = 200, **extra) -> dict:
    response = client.post(
        "/graphql/",
        json.dumps({"query": query, **extra}),
        content_type="application/json",
    )
    assert response.status_code == status
    return response.json() if status == 200 else {}


@pytest.fixture
def metrics_on(settings):
    settings.METRICS_ENABLED = True
    settings.METRICS_TOKEN = ""
    return settings


def test_off_by_default_a_404_and_nothing_recorded(db, settings):
    assert settings.METRICS_ENABLED is False
    client = Client()
    settings.METRICS_ENABLED = True
    before = scrape(client)
    settings.METRICS_ENABLED = False

    assert client.get("/metrics").status_code == 404
    post(client, FACETS)

    settings.METRICS_ENABLED = True
    after = scrape(client)
    key = {"type": "query", "name": "Facets", "outcome": "ok"}
    assert value(after, "shop_graphql_operations_total", **key) == value(
        before, "shop_graphql_operations_total", **key
    )
    route = {"method": "POST", "route": "/graphql/", "status": "200"}
    assert value(after, "shop_http_requests_total", **route) == value(
        before, "shop_http_requests_total", **route
    )


def test_a_token_is_required_when_set(db, metrics_on):
    metrics_on.METRICS_TOKEN = TOKEN
    client = Client()

    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics")["WWW-Authenticate"] == 'Bearer realm="metrics"'
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer not-the-token")
    assert wrong.status_code == 401
    basic = client.get("/metrics", HTTP_AUTHORIZATION=f"Basic {TOKEN}")
    assert basic.status_code == 401
    assert "shop_http_requests_total" in str(scrape(client, TOKEN))


def test_requests_and_operations_are_counted_and_timed(db, metrics_on):
    client = Client()
    PLANS.clear()  # no query of an earlier test is known
    before = scrape(client)

    post(client, FACETS)
    post(client, FACETS)
    [error] = post(client, RENAME)["errors"]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    # A refused sign-in is a business answer (errors in the payload), not an error.
    payload = post(client, BAD_LOGIN)["data"]["tokenAuth"]
    assert payload["errors"] == [{"code": "INVALID_CREDENTIALS"}]
    post(client, "{ attributes { slug } }")
    post(client, "query Broken { attributes { slug ")
    assert client.get("/webhooks/stripe/").status_code == 405
    assert client.get("/nowhere/12345/").status_code == 404

    after = scrape(client)

    def moved(metric, /, **labels):
        return value(after, metric, **labels) - value(before, metric, **labels)

    operations = "shop_graphql_operations_total"
    assert moved(operations, type="query", name="Facets", outcome="ok") == 2
    assert moved(operations, type="mutation", name="Rename", outcome="error") == 1
    assert moved(operations, type="mutation", name="SignIn", outcome="ok") == 1
    assert moved(operations, type="query", name="anonymous", outcome="ok") == 1
    assert moved(operations, type="unknown", name="anonymous", outcome="error") == 1
    duration = "shop_graphql_operation_duration_seconds"
    assert moved(f"{duration}_count", type="query", name="Facets") == 2
    assert moved(f"{duration}_bucket", type="query", name="Facets", le="+Inf") == 2
    assert moved(f"{duration}_count", type="mutation", name="Rename") == 1
    assert moved(f"{duration}_sum", type="query", name="Facets") > 0

    # the second Facets ran as its plan (GRAPHQL_PLAN_AFTER is 2)
    assert moved("shop_graphql_plans_total", outcome="planned") == 1
    assert moved("shop_graphql_plans_total", outcome="abandoned") == 0

    http = "shop_http_requests_total"
    assert moved(http, method="POST", route="/graphql/", status="200") == 6
    assert moved(http, method="GET", route="/webhooks/stripe/", status="405") == 1
    assert moved(http, method="GET", route="unmatched", status="404") == 1
    assert moved(http, method="GET", route="/metrics", status="200") == 1
    http_duration = "shop_http_request_duration_seconds"
    assert moved(f"{http_duration}_count", method="POST", route="/graphql/") == 6
    assert not [key for key in after if "12345" in str(key)]


def test_routes_are_url_patterns_not_paths(db, metrics_on, admin_client):
    admin_client.get("/admin/orders/order/987654/change/")

    found = scrape(Client())

    routes = {dict(key[1:]).get("route") for key in found}
    assert "/admin/orders/order/<path:object_id>/change/" in routes
    assert not [route for route in routes if route and "987654" in route]


def test_operation_names_are_capped(db, metrics_on, monkeypatch):
    client = Client()
    long_name = "Q" + "x" * 64
    post(client, f"query {long_name} {{ attributes {{ slug }} }}")
    # The name a request gives need not be a GraphQL name (nor exist: a 400).
    post(client, FACETS, status=400, operationName="Facets<script>")
    monkeypatch.setattr(metrics, "MAX_OPERATION_NAMES", len(metrics._names_seen))
    post(client, "query NeverSeenBefore { attributes { slug } }")

    found = scrape(client)

    names = {
        dict(key[1:])["name"]
        for key in found
        if key[0] == "shop_graphql_operations_total"
    }
    assert long_name not in names
    assert "Facets<script>" not in names
    assert "NeverSeenBefore" not in names
    assert (
        value(
            found,
            "shop_graphql_operations_total",
            type="query",
            name="other",
            outcome="ok",
        )
        == 2
    )
    assert (
        value(
            found,
            "shop_graphql_operations_total",
            type="unknown",
            name="other",
            outcome="error",
        )
        == 1
    )


# ---------------------------------------------------------------- Celery


@pytest.mark.django_db(transaction=True)
def test_task_outcomes_from_a_real_worker(metrics_on):
    variant = make_product(
        name="Desk Lamp", variants=[{"name": "Brass", "quantity_available": 5}]
    ).variants.get()
    # Its confirmation email is queued; another run holds it: the task retries.
    order = guest_checkout(guest_cart((variant, 1)), email="ada@example.com")
    Order.objects.filter(pk=order.pk).update(
        confirmation_claimed_until=timezone.now() + timedelta(hours=1)
    )

    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        orders_expire_task.delay()
        orders_expire_task.delay()
        payment_refund_task.delay(987654)  # no such payment: the task fails
        found = wait_for_tasks(succeeded=2, failed=1, retried=1)

    task = "workers.tasks.{}".format
    total = "shop_celery_tasks_total"
    assert (
        value(found, total, task=task("orders.orders_expire"), state="succeeded") == 2
    )
    assert (
        value(found, total, task=task("payments.payment_refund"), state="failed") == 1
    )
    confirmation = task("orders.order_confirmation_send")
    assert value(found, total, task=confirmation, state="retried") == 1
    duration = "shop_celery_task_duration_seconds"
    expire = {"task": task("orders.orders_expire"), "state": "succeeded"}
    assert value(found, f"{duration}_count", **expire) == 2
    assert value(found, f"{duration}_bucket", le="+Inf", **expire) == 2
    assert value(found, f"{duration}_sum", **expire) > 0
    buckets = [
        value(found, f"{duration}_bucket", le=repr(float(bound)), **expire)
        for bound in metrics.TASK_BUCKETS
    ]
    assert buckets == sorted(buckets)  # cumulative


def wait_for_tasks(seconds: float = 30, **states: int) -> dict:
    deadline = time.monotonic() + seconds
    while True:
        found = scrape(Client())
        counts = {
            state: sum(
                count
                for key, count in found.items()
                if key[0] == "shop_celery_tasks_total" and ("state", state) in key
            )
            for state in states
        }
        if counts == states or time.monotonic() > deadline:
            assert counts == states
            return found
        time.sleep(0.1)


def test_eager_tasks_are_counted_and_a_redis_outage_never_fails_a_task(db, metrics_on):
    orders_expire_task.apply()
    found = scrape(Client())
    expire = {"task": "workers.tasks.orders.orders_expire", "state": "succeeded"}
    assert value(found, "shop_celery_tasks_total", **expire) == 1

    metrics_on.CACHES = {
        "default": {
            **metrics_on.CACHES["default"],
            "LOCATION": "redis://127.0.0.1:9/0",  # nothing listens there
        }
    }
    result = orders_expire_task.apply()
    assert result.successful()
    assert result.result == []


# ---------------------------------------------------------------- processes


@pytest.mark.django_db(transaction=True)
def test_gunicorn_workers_add_up(tmp_path):
    directory = tmp_path / "prometheus"
    directory.mkdir()
    env = os.environ | {
        "DATABASE_URL": server_database_url(),
        "DJANGO_LOG_LEVEL": "WARNING",
        "METRICS_ENABLED": "true",
        "METRICS_TOKEN": TOKEN,
        "PROMETHEUS_MULTIPROC_DIR": str(directory),
    }
    with gunicorn(env, tmp_path / "server.log", workers=2) as base:

        def facets(_) -> int:
            request = urllib.request.Request(
                f"{base}/graphql/",
                data=json.dumps({"query": FACETS}).encode(),
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=20) as response:
                return response.status

        # Side by side, each on a new connection, until both workers served some
        # (the kernel gives each connection to whichever worker accepts first).
        requests = 0
        deadline = time.monotonic() + 60
        with ThreadPoolExecutor(8) as pool:
            while len(facets_by_process(directory)) < 2:
                assert time.monotonic() < deadline, facets_by_process(directory)
                assert set(pool.map(facets, range(20))) == {200}
                requests += 20
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{base}/metrics", timeout=20)
        assert refused.value.code == 401
        scrape_request = urllib.request.Request(
            f"{base}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        with urllib.request.urlopen(scrape_request, timeout=20) as response:
            found = samples(response.read().decode())

    by_process = facets_by_process(directory)
    assert len(by_process) == 2
    assert sum(by_process.values()) == requests
    assert (
        value(
            found,
            "shop_graphql_operations_total",
            type="query",
            name="Facets",
            outcome="ok",
        )
        == requests
    )
    http = {"method": "POST", "route": "/graphql/", "status": "200"}
    assert value(found, "shop_http_requests_total", **http) == requests


def facets_by_process(directory) -> dict[str, float]:
    """Facets queries counted in each process's file of the multiprocess dir."""
    counted = {}
    for path in directory.glob("counter_*.db"):
        for key, count, _, _ in MmapedDict.read_all_values_from_file(str(path)):
            name, _, labels, _ = json.loads(key)
            if name == "shop_graphql_operations" and labels.get("name") == "Facets":
                counted[path.name] = counted.get(path.name, 0) + count
    return counted
