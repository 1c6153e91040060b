"""Prometheus metrics: HTTP requests, GraphQL operations and Celery task outcomes,
served at /metrics while METRICS_ENABLED is on (nothing is recorded while it is off).

- HTTP requests and GraphQL operations are counted in the process that serves them
  (prometheus_client). Under gunicorn every worker is a process of its own: with
  PROMETHEUS_MULTIPROC_DIR set, each writes its values to files in that directory
  and /metrics adds up every worker's files (prometheus_client's multiprocess mode).
- Celery task outcomes happen in worker processes, often on other hosts. Each task
  end adds to one Redis hash (one pipelined round trip), and /metrics renders that
  hash: one scrape of any web process sees the outcomes of every worker in the
  cluster, however many workers run.

The setting is read on every request, not at import, so it can be switched in a
test (and costs one attribute lookup while off).
"""

import hmac
import logging
import math
import os
import re
import time
from collections.abc import Iterator

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.views.decorators.http import require_GET
from prometheus_client import (
    CONTENT_TYPE_PLAIN_0_0_4,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
TASK_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)

HTTP_REQUESTS = Counter(
    "shop_http_requests",
    "HTTP requests answered, by method, route (the URL pattern) and status.",
    ["method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "shop_http_request_duration_seconds",
    "Time to answer an HTTP request, by method and route.",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
)
GRAPHQL_OPERATIONS = Counter(
    "shop_graphql_operations",
    "GraphQL operations (HTTP and WebSocket), by type, name and outcome (ok: no "
    "error in the answer; error: at least one).",
    ["type", "name", "outcome"],
)
GRAPHQL_DURATION = Histogram(
    "shop_graphql_operation_duration_seconds",
    "Time to run a GraphQL query or mutation, by type and name.",
    ["type", "name"],
    buckets=LATENCY_BUCKETS,
)

GRAPHQL_PLANS = Counter(
    "shop_graphql_plans",
    "Queries run as a compiled plan (schema.plans), by outcome (planned: the plan "
    "answered; abandoned: graphql-core answered again, as for an error).",
    ["outcome"],
)


def enabled() -> bool:
    return settings.METRICS_ENABLED


# ---------------------------------------------------------------- HTTP


def _route(request: HttpRequest) -> str:
    """The URL pattern that served the request (/graphql/, /admin/<path:...>/),
    never the raw path: ids in paths would make a series per object."""
    match = getattr(request, "resolver_match", None)
    if match is None or match.route is None:
        return "unmatched"
    return "/" + match.route


class MetricsMiddleware:
    """Counts and times every HTTP request by method, route and status."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if not settings.METRICS_ENABLED:
            return self.get_response(request)
        started = time.perf_counter()
        status = 500
        try:
            response = self.get_response(request)
            status = response.status_code
            return response
        finally:
            seconds = time.perf_counter() - started
            # Any other method is one series: clients choose methods freely.
            method = request.method if request.method in _METHODS else "other"
            route = _route(request)
            HTTP_REQUESTS.labels(method, route, str(status)).inc()
            HTTP_DURATION.labels(method, route).observe(seconds)


_METHODS = frozenset(("GET", "POST", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"))


# ---------------------------------------------------------------- GraphQL

NAME_MAX_LENGTH = 64
# Distinct operation names one process labels; further names count as "other".
# A client chooses the names: without a cap, each new one would be a new series.
MAX_OPERATION_NAMES = 500
_OPERATION_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]*")
_OPERATION_TYPES = frozenset(("query", "mutation", "subscription"))
_names_seen: set[str] = set()


def operation_label(name: str | None) -> str:
    """The ``name`` label of an operation: "anonymous" without a name, "other" for
    a name that is long, not a GraphQL name, or new once the cap is reached."""
    if not name:
        return "anonymous"
    if name in _names_seen:
        return name
    if (
        len(name) > NAME_MAX_LENGTH
        or not _OPERATION_NAME.fullmatch(name)
        or len(_names_seen) >= MAX_OPERATION_NAMES
    ):
        return "other"
    _names_seen.add(name)
    return name


def graphql_operation_record(
    *, kind: str | None, name: str | None, failed: bool, seconds: float | None
) -> None:
    """Count one GraphQL operation (``kind``: query, mutation, subscription, or
    None for a document that did not parse) and time it unless ``seconds`` is
    None (a subscription lasts as long as its client wants)."""
    kind = kind if kind in _OPERATION_TYPES else "unknown"
    label = operation_label(name)
    GRAPHQL_OPERATIONS.labels(kind, label, "error" if failed else "ok").inc()
    if seconds is not None:
        GRAPHQL_DURATION.labels(kind, label).observe(seconds)


def graphql_plan_record(*, abandoned: bool) -> None:
    """Count one execution of a query plan (while METRICS_ENABLED is on)."""
    if settings.METRICS_ENABLED:
        GRAPHQL_PLANS.labels("abandoned" if abandoned else "planned").inc()


# ---------------------------------------------------------------- Celery

TASK_STATES = ("succeeded", "failed", "retried")
_TASKS_KEY = "metrics:celery:tasks"
# Field separator in the Redis hash; task names are dotted Python paths.
_SEP = "|"


def _redis():
    from django_redis import get_redis_connection

    return get_redis_connection("default")


def _tasks_key() -> str:
    prefix = settings.CACHES["default"].get("KEY_PREFIX") or ""
    return f"{prefix}:{_TASKS_KEY}" if prefix else _TASKS_KEY


def _bucket_of(seconds: float) -> str:
    for bound in TASK_BUCKETS:
        if seconds <= bound:
            return repr(float(bound))
    return "+Inf"


def task_outcome_record(*, task: str, state: str, seconds: float | None) -> None:
    """Count one end of a Celery task (``state``: succeeded, failed or retried)
    and its duration, in Redis: one pipelined round trip of three increments.

    Never raises: a metric lost to a Redis outage must not fail the task.
    """
    if not settings.METRICS_ENABLED:
        return
    key = f"{task}{_SEP}{state}"
    try:
        pipe = _redis().pipeline(transaction=False)
        pipe.hincrby(_tasks_key(), f"count{_SEP}{key}", 1)
        if seconds is not None:
            pipe.hincrbyfloat(_tasks_key(), f"sum{_SEP}{key}", seconds)
            pipe.hincrby(_tasks_key(), f"le{_SEP}{key}{_SEP}{_bucket_of(seconds)}", 1)
        pipe.execute()
    except Exception:
        logger.warning(
            "Task metrics not recorded for %s (%s)", task, state, exc_info=True
        )


class CeleryTaskCollector(Collector):
    """Renders the task outcomes every worker counted in Redis."""

    def collect(self) -> Iterator:
        try:
            fields = _redis().hgetall(_tasks_key())
        except Exception:
            logger.warning("Task metrics not read from Redis", exc_info=True)
            return
        counts: dict[tuple[str, str], int] = {}
        sums: dict[tuple[str, str], float] = {}
        buckets: dict[tuple[str, str], dict[str, int]] = {}
        for raw_field, raw_value in fields.items():
            parts = raw_field.decode().split(_SEP)
            kind, labels = parts[0], (parts[1], parts[2]) if len(parts) > 2 else None
            if labels is None:
                continue
            if kind == "count":
                counts[labels] = int(raw_value)
            elif kind == "sum":
                sums[labels] = float(raw_value)
            elif kind == "le" and len(parts) == 4:
                buckets.setdefault(labels, {})[parts[3]] = int(raw_value)
        total = CounterMetricFamily(
            "shop_celery_tasks",
            "Celery task ends in every worker, by task and state (succeeded, "
            "failed, retried).",
            labels=["task", "state"],
        )
        duration = HistogramMetricFamily(
            "shop_celery_task_duration_seconds",
            "Time a Celery task ran before it succeeded, failed or was retried.",
            labels=["task", "state"],
        )
        for labels, count in sorted(counts.items()):
            total.add_metric(list(labels), count)
            observed = buckets.get(labels, {})
            cumulative, rendered = 0, []
            for bound in TASK_BUCKETS:
                cumulative += observed.get(repr(float(bound)), 0)
                rendered.append((_bound_text(bound), cumulative))
            rendered.append(("+Inf", cumulative + observed.get("+Inf", 0)))
            duration.add_metric(list(labels), rendered, sums.get(labels, 0.0))
        yield total
        yield duration


def _bound_text(bound: float) -> str:
    return "+Inf" if math.isinf(bound) else repr(float(bound))


_celery_collector = CeleryTaskCollector()


# ---------------------------------------------------------------- the endpoint


def _registry() -> CollectorRegistry:
    """Every worker's values under gunicorn (multiprocess mode), this process's
    otherwise; the Celery outcomes from Redis either way."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=directory)
    else:
        registry = CollectorRegistry()
        registry.register(_Forward(REGISTRY))
    registry.register(_celery_collector)
    return registry


class _Forward(Collector):
    """This process's own registry (the shop's metrics, and prometheus_client's
    process and Python collectors)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterator:
        return self.registry.collect()


def _authorized(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    if not token:
        return True
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.encode()
    )


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """The Prometheus text format; 404 while METRICS_ENABLED is off, 401 without
    ``Authorization: Bearer <METRICS_TOKEN>`` when a token is set."""
    if not settings.METRICS_ENABLED:
        return HttpResponse("Not found.", status=404, content_type="text/plain")
    if not _authorized(request):
        response = HttpResponse("Unauthorized.", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(
        generate_latest(_registry()), content_type=CONTENT_TYPE_PLAIN_0_0_4
    )
