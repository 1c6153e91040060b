"""Benchmarks against the server as production runs it: gunicorn, the shop's uvicorn
worker, PostgreSQL, Redis.

usage: scripts/bench [SCENARIO ...] [--quick] [--seconds N] [--concurrency N]
                     [--workers N] [--json PATH] [--products N]

Scenarios (all of them by default, in this order): listing-uncached,
listing-cached, search, facets, product-page, cart-query, cart,
checkout-contention, subscriptions, selling-quiet, selling-1, selling-5
("selling": the last three).

The selling scenarios measure the response cache while the shop sells: product
pages over a catalog of --selling-products products (2,000; ``seed_catalog`` in
BENCH_SELLING_DATABASE_URL, default the demo's name with ``_selling``) asked as
Apollo persisted queries over GET with a Zipf popularity, while guests place
orders through the API at 0, 1 and 5 per second; each reports its hit ratio and
its throughput against the quiet one.

Each scenario runs against a scratch database: the demo catalog (``seed_demo``)
in BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/shop_bench),
and for search and facets a large catalog of --products products (100,000;
``seed_catalog``) in BENCH_LARGE_DATABASE_URL (default: the same name with
``_100k``), loaded once and kept for later runs. Redis is BENCH_REDIS_URL
(default redis://127.0.0.1:6379/14), emptied at the start of a run.

The server is ``gunicorn shop.asgi:application -k shop.serve.UvicornWorker
--workers 1 --no-control-socket`` (the Dockerfile's command; --workers N for
more) on a free loopback port, with production settings (DEBUG off, no query
logging, https said by the X-Forwarded-Proto a TLS proxy would send). The load
comes from another process (scripts/bench_load.py: keep-alive sockets, requests
built in advance, one selectors loop) at a fixed number of connections, after a
warm-up; it reports its own CPU. SQL queries per request are counted outside the
server, by scripts/bench_django.py's jobs (CaptureQueriesContext around the same
request through Django's test client, same database and settings): in this
process for the demo catalog, in a helper process for the large one.

Every scenario prints one table row (requests/s, p50, p99, SQL per request,
server CPU per request, the target and whether it is met); the run goes to a
JSON file with the machine it ran on (--json, default
var/bench/results-<UTC time>.json). --quick runs each scenario briefly (about
90 s in all on a 2-core machine once the large catalog is loaded; the first
load is timed and reported). The exit status is 1 when a scenario fails
(errors, oversell, a missed delivery), not when a target is missed.
BENCHMARKS.md says more.
"""

import argparse
import asyncio
import base64
import hashlib
import http.client
import json
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python")
DEFAULT_DATABASE = "postgres://postgres@127.0.0.1:5432/shop_bench"
DEFAULT_REDIS = "redis://127.0.0.1:6379/14"

# ---------------------------------------------------------------- documents

# The storefront listing: 20 products with their category, price range and
# variants (SKU, price, stock, attributes).
LISTING = """query Listing($first: Int!) {
  products(first: $first) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node {
      id name slug inStock
      category { name slug }
      priceRange { min { amount currency } max { amount currency } }
      variants {
        id sku quantityAvailable price { amount currency }
        attributes { attribute { slug name } value { slug name } }
      }
    } }
  }
}"""
# The README's product page.
PRODUCT_PAGE = """query ProductPage($slug: String!) {
  product(slug: $slug) {
    id name description category { name slug }
    averageRating reviewCount
    attributes { attribute { name } value { name } }
    variants {
      sku name quantityAvailable price { amount currency }
      attributes { attribute { slug name } value { slug name } }
    }
    reviews(first: 5) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { node { rating comment author verifiedPurchase createdAt editedAt } }
    }
  }
}"""
# A search results page: full text within a category (and its descendants).
SEARCH = """query Search($search: String!, $category: String) {
  products(first: 20, filters: {search: $search, category: $category}) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node {
      id name slug inStock category { name }
      priceRange { min { amount currency } max { amount currency } }
    } }
  }
}"""
# A facet filter: one colour, one size, in stock (on one same variant).
FACETS = """query Facets($attributes: [AttributeFilter!]) {
  products(first: 20, filters: {attributes: $attributes, inStock: true}) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node {
      id name slug inStock category { name }
      priceRange { min { amount currency } max { amount currency } }
    } }
  }
}"""
# A storefront's cart page: the guest cart's lines with each variant's product.
CART = """query Cart($token: String) { cart(token: $token) {
  token totalQuantity voucherCode subtotal { amount currency }
  lines { quantity total { amount currency }
    variant { id sku name price { amount currency } quantityAvailable
      attributes { attribute { name } value { name } }
      product { name slug } } } } }"""
VARIANTS = """{ products(first: 100, filters: {inStock: true}) {
  edges { node { variants { id quantityAvailable } } } } }"""
ADD = """mutation($token: String, $lines: [CartLineInput!]!) {
  cartLinesAdd(token: $token, lines: $lines) {
    cart { token totalQuantity subtotal { amount } } errors { code } } }"""
UPDATE = """mutation($token: String, $lines: [CartLineInput!]!) {
  cartLinesUpdate(token: $token, lines: $lines) {
    cart { totalQuantity subtotal { amount } } errors { code } } }"""
CHECKOUT = """mutation($token: String!, $key: String!, $method: ID) {
  checkout(input: {cartToken: $token, email: "bench@example.com", idempotencyKey: $key,
    shippingMethodId: $method,
    shippingAddress: {name: "Bench", line1: "1 Load St", city: "Test",
                      postalCode: "0000", country: "US"}}) {
    order { number status total { amount } } errors { code } } }"""

SCENARIOS = (
    "listing-uncached",
    "listing-cached",
    "search",
    "facets",
    "product-page",
    "cart-query",
    "cart",
    "checkout-contention",
    "subscriptions",
    "selling-quiet",
    "selling-1",
    "selling-5",
)
# the names of the earlier scripts/bench
ALIASES = {"catalog": "listing-uncached", "checkout": "checkout-contention"}
# a name that stands for several scenarios
GROUPS = {"selling": ("selling-quiet", "selling-1", "selling-5")}
LARGE = {"search", "facets"}
SELLING = set(GROUPS["selling"])
# Orders per second streaming during each selling scenario.
SELLING_RATES = {"selling-quiet": 0, "selling-1": 1, "selling-5": 5}
# The Zipf exponent of product popularity in the selling scenarios.
ZIPF_EXPONENT = 1.0
# (description, check of a result row)
TARGETS = {
    "listing-uncached": (
        ">= 65 req/s, p50 < 60 ms",
        lambda r: r["per_second"] >= 65 and r["p50_ms"] < 60,
    ),
    "listing-cached": (">= 600 req/s", lambda r: r["per_second"] >= 600),
    "search": ("p50 < 50 ms", lambda r: r["p50_ms"] < 50),
    "facets": ("p50 < 100 ms", lambda r: r["p50_ms"] < 100),
    "cart": ("p50 < 10 ms", lambda r: r["p50_ms"] < 10),
    "checkout-contention": (
        ">= 100 orders/s, no oversell",
        lambda r: r["per_second"] >= 100 and r["oversold"] == 0,
    ),
    "subscriptions": ("p99 < 100 ms", lambda r: r["p99_ms"] < 100),
    "selling-1": (
        ">= 90% hits, >= 0.7x quiet",
        lambda r: r["hit_ratio"] >= 0.9 and (r.get("of_quiet") or 0) >= 0.7,
    ),
    "selling-5": (">= 80% hits", lambda r: r["hit_ratio"] >= 0.8),
}
# Checkout: every buyer's cart holds one of three variants (45%, 45%, 10% of the
# carts); the last has little stock, so it sells out during the run (at the
# target's rate, within a --quick run too) and its later buyers are refused:
# the refusals take the same locks.
CHECKOUT_STOCK = (1_000_000, 1_000_000, 10)


def environment(database_url: str | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url
        or os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE),
        REDIS_URL=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS),
        DJANGO_SECRET_KEY="bench-only-secret-key-0123456789abcdefghijklmnop",
        DJANGO_DEBUG="false",
        DJANGO_LOG_LEVEL="WARNING",
        # behind a TLS proxy, as in production: the load says https with the header
        DJANGO_SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto",
        # production settings need Stripe keys; the benchmarks never call Stripe
        STRIPE_SECRET_KEY=os.environ.get("STRIPE_SECRET_KEY") or "sk_test_bench",
        STRIPE_WEBHOOK_SECRET=os.environ.get("STRIPE_WEBHOOK_SECRET") or "whsec_bench",
        STRIPE_API_BASE="http://127.0.0.1:9",
        # production settings need EMAIL_URL; the bench's emails go to the log
        EMAIL_URL="consolemail://",
        # the load comes from one IP: keep the sign-in throttle out of the way
        LOGIN_FAILURES_PER_IP="1000000",
        METRICS_ENABLED="false",
        SENTRY_DSN="",
    )
    return env


def selling_database_url() -> str:
    default = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE) + "_selling"
    return os.environ.get("BENCH_SELLING_DATABASE_URL", default)


def large_database_url() -> str:
    default = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE) + "_100k"
    return os.environ.get("BENCH_LARGE_DATABASE_URL", default)


def create_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as db:
        exists = db.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
        ).fetchone()
        if not exists:
            db.execute(f'CREATE DATABASE "{name}"')


def raise_open_files_limit() -> None:
    """Lift this process's soft limit on open files to its hard limit."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 65536 if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (gunicorn's workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


STARTED: list["Server"] = []  # stopped when the run ends, however it ends


class Server:
    """gunicorn with the shop's uvicorn worker, as the Dockerfile runs it, for the
    duration of a ``with`` block."""

    def __init__(
        self, env: dict[str, str], workers: int = 1, log: Path | None = None
    ) -> None:
        self.env = env
        self.workers = workers
        self.port = free_port()
        self.log = log  # the server's output goes there instead of the terminal

    def __enter__(self) -> "Server":
        self.start()
        return self.ready()

    def start(self) -> None:
        """Start gunicorn (ready() waits until it answers)."""
        STARTED.append(self)
        output = self.log.open("ab") if self.log else None
        self.process = subprocess.Popen(
            [
                str(ROOT / ".venv" / "bin" / "gunicorn"),
                "shop.asgi:application",
                "-k",
                "shop.serve.UvicornWorker",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(self.workers),
                "--no-control-socket",
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=self.env,
            start_new_session=True,
            # a socket is a file: 1,000 subscribers need more than the usual 1,024
            preexec_fn=raise_open_files_limit,
            stdout=output,
            stderr=output,
        )
        if output:
            output.close()  # the server has its own copy

    def ready(self) -> "Server":
        """Wait until /healthz/ answers (a minute at most)."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                if Client(self.port).get("/healthz/") == 200:
                    break
            except OSError:
                time.sleep(0.1)
        else:
            self.__exit__()
            raise SystemExit("the server did not start within 60 s")
        if self.process.poll() is not None:
            raise SystemExit(f"the server exited at start (its output: {self.log})")
        self.worker_pids = children(self.process.pid)
        return self

    def cpu_seconds(self) -> float:
        """CPU used so far by gunicorn and its workers."""
        return sum(
            process_usage(pid)[0] for pid in [self.process.pid, *self.worker_pids]
        )

    def __exit__(self, *exc) -> None:
        if getattr(self, "process", None) is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            print("the server did not stop within 40 s of SIGTERM: killed")
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)


class Client:
    """One keep-alive HTTP connection posting GraphQL documents (for set-up)."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def get(self, path: str, headers: dict | None = None) -> int:
        self.connection.request("GET", path, headers=headers or {})
        response = self.connection.getresponse()
        response.read()
        return response.status

    def graphql(
        self, query: str, variables: dict | None = None, extensions: dict | None = None
    ) -> dict:
        payload = {"query": query, "variables": variables or {}}
        if extensions:
            payload["extensions"] = extensions
        body = json.dumps(payload)
        self.connection.request(
            "POST",
            "/graphql/",
            body,
            {"Content-Type": "application/json", "X-Forwarded-Proto": "https"},
        )
        response = self.connection.getresponse()
        payload = json.loads(response.read())
        if response.status != 200 or payload.get("errors"):
            raise RuntimeError(f"{response.status}: {payload}")
        return payload["data"]


def us_shipping_method(client: "Client") -> str | None:
    """The cheapest shipping method to the bench's US address, if any ships there
    (the demo catalog's do; a catalog without shipping checks out without one)."""
    methods = client.graphql('{ shippingMethods(country: "US") { id } }')
    return methods["shippingMethods"][0]["id"] if methods["shippingMethods"] else None


def database_pk(global_id: str) -> int:
    return int(base64.b64decode(global_id).decode().rsplit(":", 1)[1])


# ---------------------------------------------------------------- the Django side


class DjangoHelper:
    """scripts/bench_django.py on one database: jobs in, answers out."""

    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [PYTHON, str(ROOT / "scripts" / "bench_django.py")],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def send(self, job: dict) -> None:
        self.process.stdin.write(json.dumps(job) + "\n")
        self.process.stdin.flush()

    def receive(self) -> dict:
        line = self.process.stdout.readline()
        if not line:
            raise SystemExit("the Django helper (scripts/bench_django.py) died")
        answer = json.loads(line)
        if "failed" in answer:
            print(answer["traceback"], file=sys.stderr)
            raise SystemExit(f"the Django helper failed: {answer['failed']}")
        return answer

    def ask(self, job: dict) -> dict:
        self.send(job)
        return self.receive()

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)


class InProcessHelper:
    """The same jobs run in this process, for the demo database: one Django
    start fewer (the subscriptions scenario needs Django here anyway). A job
    sent runs when its answer is asked for, so the other helper and the servers
    start meanwhile."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.pending: dict | None = None

    def send(self, job: dict) -> None:
        self.pending = job

    def receive(self) -> dict:
        import bench_django  # scripts/ is this script's directory

        if "django" not in sys.modules or not _django_ready():
            os.environ.update(self.env)
            bench_django.setup()
        job, self.pending = self.pending, None
        return bench_django.JOBS[job["job"]](job)

    def ask(self, job: dict) -> dict:
        self.send(job)
        return self.receive()

    def close(self) -> None:
        pass


def _django_ready() -> bool:
    from django.apps import apps

    return apps.ready


# ---------------------------------------------------------------- requests


def post_request(port: int, document: str, variables: dict) -> bytes:
    body = json.dumps(
        {"query": document, "variables": variables}, separators=(",", ":")
    ).encode()
    return (
        f"POST /graphql/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Content-Type: application/json\r\nX-Forwarded-Proto: https\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def get_path(document: str, variables: dict) -> str:
    compact = " ".join(document.split())
    return "/graphql/?" + urlencode(
        {"query": compact, "variables": json.dumps(variables, separators=(",", ":"))}
    )


def get_request(port: int, path: str) -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Accept: application/json\r\nX-Forwarded-Proto: https\r\n\r\n"
    ).encode()


def counted(name: str, document: str, variables: dict, **extra) -> dict:
    """A request for the query counter (scripts/bench_django.py)."""
    return {
        "name": name,
        "method": "POST",
        "path": "/graphql/",
        "body": json.dumps({"query": document, "variables": variables}),
        **extra,
    }


# ---------------------------------------------------------------- measuring


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU time of the whole machine so far, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def drive(
    server: Server,
    connections: list[list[bytes]],
    seconds: float,
    warmup: float,
    *,
    cycle: bool = True,
    ok: bytes | None = None,
    refused: bytes | None = None,
) -> dict:
    """Run scripts/bench_load.py against the server; its result with the
    server's and the machine's CPU over the measured window added."""
    job = {
        "port": server.port,
        "seconds": seconds,
        "warmup": warmup,
        "cycle": cycle,
        "connections": [
            [base64.b64encode(r).decode() for r in requests] for requests in connections
        ],
    }
    if ok:
        job["ok"] = base64.b64encode(ok).decode()
    if refused:
        job["refused"] = base64.b64encode(refused).decode()
    process = subprocess.Popen(
        [PYTHON, str(ROOT / "scripts" / "bench_load.py")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    output: dict = {}

    def feed() -> None:
        process.stdin.write(json.dumps(job).encode())
        process.stdin.close()

    def collect() -> None:
        output["stdout"] = process.stdout.read()

    writer = threading.Thread(target=feed)
    reader = threading.Thread(target=collect)
    writer.start()
    reader.start()
    began = None
    errors = []
    for line in process.stderr:
        if line.strip() == b"measuring" and began is None:
            began = (server.cpu_seconds(), machine_busy(), time.monotonic())
        else:
            errors.append(line.decode(errors="replace"))
    process.wait()
    ended = (server.cpu_seconds(), machine_busy(), time.monotonic())
    writer.join()
    reader.join()
    if process.returncode != 0 or began is None:
        raise SystemExit(f"the load generator failed: {''.join(errors)[-2000:]}")
    result = json.loads(output["stdout"])
    server_cpu = ended[0] - began[0]
    busy = ended[1][0] - began[1][0]
    total = ended[1][1] - began[1][1]
    result["server_cpu_ms_per_request"] = (
        server_cpu / result["requests"] * 1000 if result["requests"] else None
    )
    result["server_cpu_percent"] = server_cpu / (ended[2] - began[2]) * 100
    result["machine_busy_percent"] = busy / total * 100 if total else None
    return result


def rotate(items: list, by: int) -> list:
    by %= len(items)
    return items[by:] + items[:by]


# ---------------------------------------------------------------- scenarios


class Run:
    """What the scenarios share: options, catalog facts, the Django helpers."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.seconds = args.seconds
        self.warmup = args.warmup
        self.concurrency = args.concurrency
        self.demo: dict = {}
        self.large: dict = {}
        self.selling: dict = {}
        self.queries: dict = {}
        self.demo_helper: InProcessHelper | None = None


def scenario_listing_uncached(run: Run, server: Server) -> dict:
    request = post_request(server.port, LISTING, {"first": 20})
    return drive(server, [[request]] * run.concurrency, run.seconds, run.warmup)


def scenario_listing_cached(run: Run, server: Server) -> dict:
    request = get_request(server.port, get_path(LISTING, {"first": 20}))
    return drive(server, [[request]] * run.concurrency, run.seconds, run.warmup)


def scenario_search(run: Run, server: Server) -> dict:
    requests = [
        post_request(
            server.port,
            SEARCH,
            {"search": term, "category": run.large["category"]},
        )
        for term in run.large["terms"]
    ]
    connections = [rotate(requests, i) for i in range(run.concurrency)]
    return drive(server, connections, run.seconds, run.warmup)


def facet_combinations(run: Run) -> list[dict]:
    return [
        {
            "attributes": [
                {"slug": color_attribute, "values": [color]},
                {"slug": size_attribute, "values": [size]},
            ]
        }
        for color_attribute, color in run.large["colors"]
        for size_attribute, size in run.large["sizes"]
    ]


def scenario_facets(run: Run, server: Server) -> dict:
    requests = [
        post_request(server.port, FACETS, variables)
        for variables in facet_combinations(run)
    ]
    connections = [rotate(requests, i * 5) for i in range(run.concurrency)]
    return drive(server, connections, run.seconds, run.warmup)


def scenario_product_page(run: Run, server: Server) -> dict:
    request = post_request(
        server.port, PRODUCT_PAGE, {"slug": run.demo["product_slug"]}
    )
    return drive(server, [[request]] * run.concurrency, run.seconds, run.warmup)


def scenario_cart_query(run: Run, server: Server) -> dict:
    """The cart query of a guest cart holding three lines."""
    lines = [{"variantId": v["id"], "quantity": 1} for v in run.demo["variants"][:3]]
    added = Client(server.port).graphql(ADD, {"token": None, "lines": lines})
    token = added["cartLinesAdd"]["cart"]["token"]
    request = post_request(server.port, CART, {"token": token})
    return drive(server, [[request]] * run.concurrency, run.seconds, run.warmup)


def scenario_cart(run: Run, server: Server) -> dict:
    """One connection alternating cartLinesAdd (+1) and cartLinesUpdate (back to
    1) over five variants of its guest cart."""
    variants = run.demo["variants"][:5]
    token = run.demo_helper.ask({"job": "carts", "lines": [[variants[0]["pk"], 1]]})[
        "tokens"
    ][0]
    requests = []
    for variant in variants:
        lines = [{"variantId": variant["id"], "quantity": 1}]
        requests.append(
            post_request(server.port, ADD, {"token": token, "lines": lines})
        )
        requests.append(
            post_request(server.port, UPDATE, {"token": token, "lines": lines})
        )
    return drive(server, [requests], run.seconds, run.warmup)


def zipf_sample(count: int, size: int, seed: int) -> list[int]:
    """``size`` indexes in range(count), index k drawn with a weight of
    1 / (k + 1) ** ZIPF_EXPONENT: a few products are most of the traffic, the
    rest a long tail."""
    import random

    weights = [1 / (k + 1) ** ZIPF_EXPONENT for k in range(count)]
    return random.Random(seed).choices(range(count), weights=weights, k=size)


def persisted_path(document: str, variables: dict) -> str:
    """An Apollo persisted query over GET: the hash and the variables only."""
    digest = hashlib.sha256(document.encode()).hexdigest()
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": digest}}
    return "/graphql/?" + urlencode(
        {
            "operationName": "ProductPage",
            "variables": json.dumps(variables, separators=(",", ":")),
            "extensions": json.dumps(extensions, separators=(",", ":")),
        }
    )


def register_persisted(server: "Server", document: str) -> None:
    """Send the document with its hash once, as Apollo's link does after a
    PersistedQueryNotFound: the server registers it."""
    digest = hashlib.sha256(document.encode()).hexdigest()
    Client(server.port).graphql(
        document,
        {"slug": "-"},
        extensions={"persistedQuery": {"version": 1, "sha256Hash": digest}},
    )


class OrderStream(threading.Thread):
    """Guests buying one unit each, at ``rate`` orders per second, through the
    API as a storefront does (cartLinesAdd, then checkout), products chosen with
    the same popularity as the page views."""

    def __init__(self, server: "Server", products: list, rate: float) -> None:
        super().__init__(daemon=True)
        self.server, self.products, self.rate = server, products, rate
        self.stop = threading.Event()
        self.placed = self.failed = 0
        self.samples: list[str] = []
        self.picks = zipf_sample(len(products), 100_000, seed=7)
        self.shipping_method = us_shipping_method(Client(server.port))

    def run(self) -> None:
        client = Client(self.server.port)
        began = time.monotonic()
        n = 0
        while not self.stop.is_set():
            due = began + n / self.rate
            if self.stop.wait(max(0.0, due - time.monotonic())):
                return
            _slug, variant = self.products[self.picks[n % len(self.picks)]]
            try:
                added = client.graphql(
                    ADD,
                    {"token": None, "lines": [{"variantId": variant, "quantity": 1}]},
                )
                token = added["cartLinesAdd"]["cart"]["token"]
                placed = client.graphql(
                    CHECKOUT,
                    {
                        "token": token,
                        "key": f"selling-{token}",
                        "method": self.shipping_method,
                    },
                )
                if placed["checkout"]["errors"]:
                    raise RuntimeError(placed["checkout"]["errors"])
                self.placed += 1
            except Exception as error:
                client = Client(self.server.port)  # a fresh connection after any
                self.failed += 1
                if len(self.samples) < 3:
                    self.samples.append(repr(error)[:300])
            n += 1


def scenario_selling(name: str):
    def run_scenario(run: Run, server: Server) -> dict:
        products = run.selling["products"]
        if not run.selling.get("registered"):
            register_persisted(server, PRODUCT_PAGE)
            run.selling["registered"] = True
            # Every page asked once first: each scenario measures a warm cache
            # (the steady state of a shop), not its first minutes.
            warm = Client(server.port)
            for slug, _variant in products:
                warm.get(
                    persisted_path(PRODUCT_PAGE, {"slug": slug}),
                    {"Accept": "application/json", "X-Forwarded-Proto": "https"},
                )
        connections = [
            [
                get_request(
                    server.port, persisted_path(PRODUCT_PAGE, {"slug": products[k][0]})
                )
                for k in zipf_sample(len(products), 20_000, seed=connection)
            ]
            for connection in range(run.concurrency)
        ]
        rate = SELLING_RATES[name]
        stream = OrderStream(server, products, rate) if rate else None
        if stream is not None:
            stream.start()
        try:
            result = drive(server, connections, run.seconds, run.warmup)
        finally:
            if stream is not None:
                stream.stop.set()
                stream.join()
        requests = result["requests"] or 1
        result["hit_ratio"] = result["cache_hits"] / requests
        result["orders_per_second"] = rate
        result["products"] = len(products)
        if stream is not None:
            result["orders_placed"] = stream.placed
            result["orders_failed"] = stream.failed
            result["order_error_samples"] = stream.samples
            if stream.failed:
                result["errors"] = result.get("errors", 0) + stream.failed
                result["error_samples"] = (
                    result.get("error_samples", []) + stream.samples
                )
        if name == "selling-quiet":
            run.selling["quiet_per_second"] = result["per_second"]
        elif run.selling.get("quiet_per_second"):
            result["of_quiet"] = result["per_second"] / run.selling["quiet_per_second"]
        return result

    return run_scenario


def checkout_variants(run: Run) -> list[dict]:
    """Three variants of three different products."""
    return run.demo["checkout_variants"]


def scenario_checkout(run: Run, server: Server) -> dict:
    """Many buyers (--buyers connections) check out carts that each hold one or
    two units of one of three variants; the third (one cart in ten) has 10
    units, so it sells out and its later buyers are refused. Carts are filled
    beforehand (the Django helper): the load is checkouts only."""
    import psycopg

    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE)
    hot = checkout_variants(run)
    pks = [variant["pk"] for variant in hot]
    # enough carts for the run at a rate above the target
    count = int((run.seconds + run.warmup) * 220) + 50
    lines = [
        [pks[2] if i % 10 == 9 else pks[i % 2], 1 + (i // 2) % 2] for i in range(count)
    ]
    with psycopg.connect(url, autocommit=True) as db:
        for pk, stock in zip(pks, CHECKOUT_STOCK, strict=True):
            db.execute(
                "UPDATE catalog_productvariant SET quantity_available = %s "
                "WHERE id = %s",
                (stock, pk),
            )
        last_order = db.execute("SELECT coalesce(max(id), 0) FROM orders_order")
        last_order = last_order.fetchone()[0]
    began = time.monotonic()
    tokens = run.demo_helper.ask({"job": "carts", "lines": lines})["tokens"]
    carts_seconds = time.monotonic() - began
    buyers = run.args.buyers
    connections: list[list[bytes]] = [[] for _ in range(buyers)]
    stamp = time.time_ns()
    for index, token in enumerate(tokens):
        variables = {
            "token": token,
            "key": f"bench-{stamp}-{index}",
            "method": run.demo.get("shipping_method"),
        }
        connections[index % buyers].append(
            post_request(server.port, CHECKOUT, variables)
        )
    result = drive(
        server,
        connections,
        run.seconds,
        run.warmup,
        cycle=False,
        ok=rb'"status":\s*"PENDING_PAYMENT"',
        refused=rb'"code":\s*"(OUT_OF_STOCK|INSUFFICIENT_STOCK)"',
    )
    with psycopg.connect(url, autocommit=True) as db:
        stock = dict(
            db.execute(
                "SELECT id, quantity_available FROM catalog_productvariant "
                "WHERE id = ANY(%s)",
                (pks,),
            ).fetchall()
        )
        ordered = dict(
            db.execute(
                "SELECT l.variant_id, sum(l.quantity) FROM orders_orderline l "
                "JOIN orders_order o ON o.id = l.order_id "
                "WHERE o.id > %s AND l.variant_id = ANY(%s) GROUP BY l.variant_id",
                (last_order, pks),
            ).fetchall()
        )
        orders = db.execute(
            "SELECT count(*) FROM orders_order WHERE id > %s", (last_order,)
        ).fetchone()[0]
    oversold = 0
    per_variant = []
    for pk, initial in zip(pks, CHECKOUT_STOCK, strict=True):
        consumed = initial - stock[pk]
        bought = int(ordered.get(pk, 0))
        if stock[pk] < 0 or consumed != bought:
            oversold += abs(consumed - bought) + max(0, -stock[pk])
        per_variant.append(
            {
                "variant": pk,
                "stock_before": initial,
                "stock_after": stock[pk],
                "ordered": bought,
            }
        )
    # every order the server said it made, and no other (warm-up included)
    answered = result["total_completed"]
    result.update(
        per_second=result["completed_per_second"],
        requests_per_second=result["per_second"],
        oversold=oversold,
        orders_created=orders,
        orders_answered=answered,
        variants=per_variant,
        sold_out=stock[pks[2]] == 0,
        buyers=buyers,
        carts_prepared=len(tokens),
        carts_seconds=carts_seconds,
    )
    if orders != answered:
        result["errors"] += 1
        result["error_samples"].append(
            f"{orders} orders in the database, {answered} answered"
        )
    return result


GUEST_ORDER = """mutation($token: String!, $key: String!, $method: ID) {
  checkout(input: {cartToken: $token, email: "bench@example.com", idempotencyKey: $key,
    shippingMethodId: $method,
    shippingAddress: {name: "Bench", line1: "1 Load St", city: "Test",
                      postalCode: "0000", country: "US"}}) {
    order { id token status } errors { code } } }"""
# What an order page asks for; --event-only leaves out the order (no database read
# per delivery).
FOLLOW = """subscription($token: String!) {
  orderStatusChanged(token: $token, includeCurrent: true) {
    status previousStatus at order { number } } }"""
FOLLOW_EVENT_ONLY = """subscription($token: String!) {
  orderStatusChanged(token: $token, includeCurrent: true) {
    status previousStatus at } }"""
# The longest path an order takes (statuses only go forward): three changes each.
FORWARD = ("PAID", "FULFILLED", "REFUNDED")
DELIVERY_TIMEOUT = 60.0
RELEASE_TIMEOUT = 60.0


def process_usage(pid: int) -> tuple[float, float]:
    """CPU seconds (user + system, all threads) and resident MiB of a process."""
    try:
        import psutil
    except ImportError:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        status = Path(f"/proc/{pid}/status").read_text()
        rss = next(
            int(line.split()[1]) / 1024
            for line in status.splitlines()
            if line.startswith("VmRSS:")
        )
        return cpu, rss
    process = psutil.Process(pid)
    times = process.cpu_times()
    return times.user + times.system, process.memory_info().rss / 2**20


def server_usage(server: "Server") -> tuple[float, float]:
    """CPU seconds of gunicorn and its workers, and the workers' resident MiB."""
    return server.cpu_seconds(), sum(
        process_usage(pid)[1] for pid in server.worker_pids
    )


def guest_orders(port: int, count: int) -> list[tuple[int, str]]:
    """Place ``count`` guest orders over HTTP: their primary keys and tokens."""
    import psycopg

    client = Client(port)
    variant = client.graphql(VARIANTS)["products"]["edges"][0]["node"]["variants"][0]
    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as db:
        db.execute(
            "UPDATE catalog_productvariant SET quantity_available = "
            "GREATEST(quantity_available, 1000000) WHERE id = %s",
            (int(base64.b64decode(variant["id"]).decode().split(":")[1]),),
        )
    orders = []
    method = us_shipping_method(client)
    for index in range(count):
        cart = client.graphql(
            ADD, {"lines": [{"variantId": variant["id"], "quantity": 1}]}
        )["cartLinesAdd"]["cart"]["token"]
        placed = client.graphql(
            GUEST_ORDER,
            {
                "token": cart,
                "key": f"follow-{time.time_ns()}-{index}",
                "method": method,
            },
        )["checkout"]
        if placed["errors"] or placed["order"]["status"] != "PENDING_PAYMENT":
            raise RuntimeError(placed)
        order = placed["order"]
        pk = int(base64.b64decode(order["id"]).decode().split(":")[1])
        orders.append((pk, order["token"]))
    return orders


def django_setup(env: dict[str, str]) -> None:
    """Django in this process, on the server's database and Redis: the status
    changes are made here, as a Celery worker or another web process would."""
    import django

    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")
    sys.path.insert(0, str(ROOT))
    django.setup()


def transition_committed(order_id: int, status: str) -> float:
    """``order_transition`` to ``status``; the monotonic time of its commit."""
    from django.db import transaction

    from shop.orders.services import order_transition

    committed: list[float] = []
    with transaction.atomic():
        # Registered before the service registers its publish, so it runs first
        # once the commit is done: the clock starts before the event is sent.
        transaction.on_commit(lambda: committed.append(time.monotonic()))
        order_transition(order_id=order_id, to_status=status)
    return committed[0]


def log_problems(path: Path) -> list[str]:
    """The server log's lines at WARNING or above (JSON or text format)."""
    levels = ("WARNING", "ERROR", "CRITICAL")
    return [
        line
        for line in path.read_text(errors="replace").splitlines()
        if any(
            f'"level": "{level}"' in line or f" {level} " in line for level in levels
        )
        or line.startswith("Traceback")
    ]


class Fanout:
    """Receipt times per (order index, status), and who waits for all of them."""

    def __init__(self, subscribers: int) -> None:
        self.subscribers = subscribers
        self.times: dict[tuple[int, str], list[float]] = {}
        self.complete: dict[tuple[int, str], asyncio.Event] = {}

    def expect(self, key: tuple[int, str]) -> asyncio.Event:
        self.times[key] = []
        self.complete[key] = asyncio.Event()
        return self.complete[key]

    def arrived(self, key: tuple[int, str], at: float) -> None:
        times = self.times.setdefault(key, [])
        times.append(at)
        if len(times) >= self.subscribers and key in self.complete:
            self.complete[key].set()


class Subscriber:
    """One anonymous graphql-transport-ws socket following every order by its
    token, one subscription per order (its id is the order's index)."""

    def __init__(
        self, url: str, document: str, tokens: list[str], fanout: Fanout
    ) -> None:
        self.url = url
        self.document = document
        self.tokens = tokens
        self.fanout = fanout
        self.received: list[tuple[int, str]] = []
        self.problems: list[str] = []

    async def open(self) -> None:
        from websockets.asyncio.client import connect

        # No client pings (a browser sends none): uvicorn's own pings, every
        # 20 s, are the keep-alive. Per-message deflate, as browsers offer it.
        self.socket = await connect(
            self.url,
            subprotocols=["graphql-transport-ws"],
            ping_interval=None,
            open_timeout=120,
            close_timeout=5,
        )
        await self.socket.send(json.dumps({"type": "connection_init", "payload": {}}))
        ack = json.loads(await self.socket.recv())
        if ack.get("type") != "connection_ack":
            raise RuntimeError(f"no connection_ack: {ack}")
        for index, token in enumerate(self.tokens):
            await self.socket.send(
                json.dumps(
                    {
                        "id": str(index),
                        "type": "subscribe",
                        "payload": {
                            "query": self.document,
                            "variables": {"token": token},
                        },
                    }
                )
            )
        # includeCurrent: the first event of each comes once its group is joined
        for _ in self.tokens:
            message = json.loads(await self.socket.recv())
            event = _order_event(message)
            if not event or event["status"] != "PENDING_PAYMENT":
                raise RuntimeError(f"no current state: {message}")
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            async for raw in self.socket:
                at = time.monotonic()
                message = json.loads(raw)
                event = _order_event(message)
                if event is None:
                    self.problems.append(str(message)[:300])
                    continue
                key = (int(message["id"]), event["status"])
                self.received.append(key)
                self.fanout.arrived(key, at)
        except ConnectionClosed as closed:
            self.problems.append(f"closed: {closed}")


def _order_event(message: dict) -> dict | None:
    payload = message.get("payload") or {}
    if message.get("type") != "next" or payload.get("errors"):
        return None
    return (payload.get("data") or {}).get("orderStatusChanged")


async def follow_orders(
    server: Server, document: str, subscribers: int, changes: int, idle_seconds: float
) -> dict:
    """Connect the subscribers, watch the idle server, make the status changes
    one by one (each when every subscriber has the previous one), close."""
    import redis

    orders = guest_orders(server.port, -(-changes // len(FORWARD)))
    tokens = [token for _, token in orders]
    _, rss_before = server_usage(server)
    fanout = Fanout(subscribers)
    url = f"ws://127.0.0.1:{server.port}/graphql/"
    sockets = [Subscriber(url, document, tokens, fanout) for _ in range(subscribers)]
    handshakes = asyncio.Semaphore(100)

    async def open_one(subscriber: Subscriber) -> None:
        async with handshakes:
            await subscriber.open()

    began = time.monotonic()
    cpu_before, _ = server_usage(server)
    try:
        await asyncio.gather(*(open_one(subscriber) for subscriber in sockets))
    except Exception as error:
        raise SystemExit(f"a subscriber could not subscribe: {error!r}") from error
    ready_seconds = time.monotonic() - began
    cpu_after, _ = server_usage(server)
    subscribe_cpu = (cpu_after - cpu_before) / (subscribers * len(orders))

    await asyncio.sleep(2)  # let the last subscriptions settle
    cpu_before, _ = server_usage(server)
    idle_began = time.monotonic()
    await asyncio.sleep(idle_seconds)
    cpu_after, rss_idle = server_usage(server)
    idle_cpu = (cpu_after - cpu_before) / (time.monotonic() - idle_began)

    loop = asyncio.get_running_loop()
    django = ThreadPoolExecutor(max_workers=1)  # one thread: one DB connection
    delays: list[float] = []
    firsts: list[float] = []
    expected: list[tuple[int, str]] = []
    cpu_before, _ = server_usage(server)
    deliveries_began = time.monotonic()
    client_before = time.process_time()
    for number in range(changes):
        index, step = divmod(number, len(FORWARD))
        key = (index, FORWARD[step])
        expected.append(key)
        complete = fanout.expect(key)
        committed = await loop.run_in_executor(
            django, transition_committed, orders[index][0], key[1]
        )
        try:
            await asyncio.wait_for(complete.wait(), DELIVERY_TIMEOUT)
        except TimeoutError:
            problems = [p for s in sockets for p in s.problems][:3]
            raise SystemExit(
                f"change {number + 1}: {len(fanout.times[key])} of {subscribers} "
                f"deliveries within {DELIVERY_TIMEOUT:g} s; problems: {problems}"
            ) from None
        arrivals = sorted(fanout.times[key])
        delays.extend(at - committed for at in arrivals)
        firsts.append(arrivals[0] - committed)
        await asyncio.sleep(0.2)
    cpu_after, _ = server_usage(server)
    delivery_seconds = time.monotonic() - deliveries_began
    client_cpu = (time.process_time() - client_before) / (changes * subscribers)
    django.shutdown()
    delivery_cpu = (cpu_after - cpu_before) / (changes * subscribers)

    await asyncio.sleep(1)  # a duplicate would have come by now
    wrong = sum(1 for s in sockets if s.received != expected or s.problems)
    closing = time.monotonic()
    await asyncio.gather(*(s.socket.close() for s in sockets))
    await asyncio.gather(*(s.reader for s in sockets))
    # Closing a socket releases its groups: wait (a while) for the server to
    # have left them all.
    layer = redis.Redis.from_url(os.environ["REDIS_URL"])
    while True:
        members_left = sum(layer.zcard(f"asgi:group:order.{pk}") for pk, _ in orders)
        released_seconds = time.monotonic() - closing
        if not members_left or released_seconds > RELEASE_TIMEOUT:
            break
        await asyncio.sleep(0.1)

    delays.sort()

    def percentile(p: float) -> float:
        return delays[min(len(delays) - 1, int(p * len(delays)))] * 1000

    return {
        "orders": len(orders),
        "ready_seconds": ready_seconds,
        "subscribe_cpu_ms": subscribe_cpu * 1000,
        "idle_cpu_percent": idle_cpu * 100,
        "rss_mib": rss_idle,
        "rss_added_mib": rss_idle - rss_before,
        "deliveries": len(delays),
        "delivery_seconds": delivery_seconds,
        "p50_ms": percentile(0.50),
        "p99_ms": percentile(0.99),
        "max_ms": delays[-1] * 1000,
        "first_ms": statistics.median(firsts) * 1000,
        "delivery_cpu_ms": delivery_cpu * 1000,
        "client_cpu_ms": client_cpu * 1000,
        "wrong_sockets": wrong,
        "members_left": members_left,
        "released_seconds": released_seconds,
    }


def bench_subscriptions(run: "Run", server: "Server") -> dict:
    """Live order status: ``--subscribers`` sockets on the server, each following
    the same guest orders; idle CPU, then the delay of each status change to
    every subscriber."""
    args = run.args
    raise_open_files_limit()  # the client end of every socket is here too
    django_setup(server.env)
    document = FOLLOW_EVENT_ONLY if args.event_only else FOLLOW
    result = asyncio.run(
        follow_orders(
            server, document, args.subscribers, args.changes, args.idle_seconds
        )
    )
    selection = "status previousStatus at" + (
        "" if args.event_only else " order { number }"
    )
    print(
        f"  subscriptions: {args.subscribers} sockets x {result['orders']} "
        f"order{'s' if result['orders'] != 1 else ''} followed "
        f"(graphql-transport-ws, anonymous, by token; {selection}), "
        f"ready in {result['ready_seconds']:.1f} s "
        f"(server CPU {result['subscribe_cpu_ms']:.1f} ms per subscription)\n"
        f"  idle {args.idle_seconds:g} s: server CPU "
        f"{result['idle_cpu_percent']:.2f}% of a core, RSS {result['rss_mib']:.0f} "
        f"MiB (+{result['rss_added_mib']:.0f} MiB for the sockets)\n"
        f"  {args.changes} status changes x {args.subscribers} subscribers, commit "
        f"to receipt: max {result['max_ms']:.1f} ms (first receipt "
        f"{result['first_ms']:.1f} ms; CPU per delivery: server "
        f"{result['delivery_cpu_ms']:.2f} ms, bench process "
        f"{result['client_cpu_ms']:.2f} ms)"
    )
    result["errors"] = 0
    result["error_samples"] = []
    if result["wrong_sockets"] or result["members_left"]:
        result["errors"] = result["wrong_sockets"] + result["members_left"]
        result["error_samples"].append(
            f"{result['wrong_sockets']} sockets missed, repeated or reordered a "
            f"change; {result['members_left']} group members left "
            f"{result['released_seconds']:.0f} s after closing"
        )
    else:
        print(
            "  every subscriber got every change once, in order; all groups left "
            f"{result['released_seconds']:.1f} s after the sockets closed"
        )
    result.update(
        subscribers=args.subscribers,
        changes=args.changes,
        per_second=None,
        deliveries_per_second=result["deliveries"] / result["delivery_seconds"],
        server_cpu_ms_per_request=result["delivery_cpu_ms"],
    )
    return result


# ---------------------------------------------------------------- the run


def machine_info() -> dict:
    import psycopg
    import redis

    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"model name\s*:\s*(.*)", cpuinfo)
    memory = re.search(r"MemTotal:\s*(\d+) kB", Path("/proc/meminfo").read_text())
    with psycopg.connect(
        os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE).rsplit("/", 1)[0]
        + "/postgres"
    ) as db:
        postgres = db.execute("SHOW server_version").fetchone()[0]
        statements = db.execute(
            "SELECT 1 FROM pg_settings WHERE name = 'shared_preload_libraries' "
            "AND setting LIKE '%%pg_stat_statements%%'"
        ).fetchone()
    redis_version = redis.Redis.from_url(
        os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS)
    ).info("server")["redis_version"]

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=False
        )
        return done.stdout.strip()

    return {
        "cpu_model": model.group(1).strip() if model else platform.processor(),
        "cores": os.cpu_count(),
        "memory_gib": round(int(memory.group(1)) / 2**20, 1) if memory else None,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgresql": postgres,
        "pg_stat_statements_loaded": bool(statements),
        "redis": redis_version,
        "git_commit": git("rev-parse", "HEAD"),
        "git_dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        "load_average_at_start": list(os.getloadavg()),
    }


def query_requests(run: Run) -> tuple[list[dict], list[dict]]:
    """The requests whose SQL is counted: (demo database, large database)."""
    demo, large = [], []
    if run.demo:
        listing = {"first": 20}
        demo.append(counted("listing-uncached", LISTING, listing))
        demo.append(
            counted("product-page", PRODUCT_PAGE, {"slug": run.demo["product_slug"]})
        )
        variant = run.demo["variants"][0]
        carts = run.demo_helper.ask(
            {"job": "carts", "lines": [[variant["pk"], 1]] * 4}
        )["tokens"]
        lines = [{"variantId": variant["id"], "quantity": 1}]
        demo.append(counted("cart-query", CART, {"token": carts[0]}))
        demo.append(counted("cart-add", ADD, {"token": carts[0], "lines": lines}))
        demo.append(counted("cart-update", UPDATE, {"token": carts[0], "lines": lines}))
        demo.append(
            counted(
                "checkout-contention",
                CHECKOUT,
                {},
                bodies=[
                    json.dumps(
                        {
                            "query": CHECKOUT,
                            "variables": {
                                "token": token,
                                "key": f"count-{token}",
                                "method": run.demo.get("shipping_method"),
                            },
                        }
                    )
                    for token in carts[1:]
                ],
            )
        )
    if run.large:
        large.append(
            counted(
                "search",
                SEARCH,
                {"search": run.large["terms"][0], "category": run.large["category"]},
            )
        )
        large.append(counted("facets", FACETS, facet_combinations(run)[0]))
    return demo, large


def sql_per_request(run: Run, name: str, result: dict) -> float | None:
    """The counted queries of the scenario's request. The response cache answers
    in front of Django (no SQL by construction): for listing-cached, the
    uncached listing's count times the share of answers that were not hits."""
    if name == "listing-cached":
        uncached = run.queries.get("listing-uncached")
        if not uncached or not result.get("requests"):
            return None
        misses = 1 - result["cache_hits"] / result["requests"]
        return uncached["queries"] * misses
    if name == "cart":
        add, update = run.queries.get("cart-add"), run.queries.get("cart-update")
        if add and update:
            return (add["queries"] + update["queries"]) / 2
        return None
    counted_ = run.queries.get(name)
    return counted_["queries"] if counted_ else None


HEADER = (
    f"{'scenario':20s} {'conns':>5s} {'req/s':>8s} {'p50 ms':>8s} {'p99 ms':>8s} "
    f"{'SQL/req':>7s} {'srv CPU':>8s} {'gen CPU':>7s}  {'target':28s} met"
)


def selling_line(result: dict) -> str:
    line = (
        f"  {result['hit_ratio']:.1%} hits over {result['products']:,} products "
        f"(Zipf {ZIPF_EXPONENT:g})"
    )
    if result.get("of_quiet") is not None:
        line += f", {result['of_quiet']:.2f}x the quiet throughput"
    if result.get("orders_per_second"):
        line += (
            f"; {result['orders_placed']} orders placed at "
            f"{result['orders_per_second']}/s, {result['orders_failed']} failed"
        )
    return line


def row(name: str, result: dict) -> str:
    def number(value, digits=1, width=8):
        return f"{value:{width}.{digits}f}" if value is not None else f"{'-':>{width}s}"

    target, check = TARGETS.get(name, ("", None))
    if check is None:
        met = "-"
    elif result.get("failed"):
        met = "FAILED"
    else:
        met = "yes" if check(result) else "NO"
    result["target"] = target or None
    result["target_met"] = None if check is None else met == "yes"
    sql = result.get("sql_queries_per_request")
    generator = result.get("generator_cpu_percent")
    return (
        f"{name:20s} {result.get('connections', 0):5d} "
        f"{number(result.get('per_second'))} {number(result.get('p50_ms'))} "
        f"{number(result.get('p99_ms'))} "
        f"{number(sql, 1, 7)} {number(result.get('server_cpu_ms_per_request'), 2)} "
        f"{number(generator, 1, 6)}%  {target:28s} {met}"
    )


SERVER_GROUPS = (
    # (name, database, response cache, scenarios): one server each, in this order
    (
        "uncached",
        "demo",
        False,
        (
            "listing-uncached",
            "product-page",
            "cart-query",
            "cart",
            "checkout-contention",
        ),
    ),
    ("large", "large", False, ("search", "facets")),
    ("cached", "demo", True, ("listing-cached", "subscriptions")),
    ("selling", "selling", True, ("selling-quiet", "selling-1", "selling-5")),
)
RUNNERS = {
    "listing-uncached": scenario_listing_uncached,
    "listing-cached": scenario_listing_cached,
    "search": scenario_search,
    "facets": scenario_facets,
    "product-page": scenario_product_page,
    "cart-query": scenario_cart_query,
    "cart": scenario_cart,
    "checkout-contention": scenario_checkout,
    "subscriptions": lambda run, server: bench_subscriptions(run, server),
    **{name: scenario_selling(name) for name in GROUPS["selling"]},
}


def connections_of(run: Run, name: str) -> int:
    if name == "cart":
        return 1
    if name == "checkout-contention":
        return run.args.buyers
    if name == "subscriptions":
        return run.args.subscribers
    return run.concurrency


def flush_bench_redis() -> None:
    import redis

    redis.Redis.from_url(os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS)).flushdb()


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0].replace("\n", " "),
        epilog="Scenarios: " + ", ".join(SCENARIOS) + " (selling: the three "
        "selling ones).",
    )
    parser.add_argument(
        "scenarios",
        nargs="*",
        metavar="SCENARIO",
        help="scenarios to run (default: all)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="each scenario briefly (2.5 s after 0.5 s of warm-up; 3 subscription "
        "changes, 1 s idle)",
    )
    parser.add_argument("--seconds", type=float, help="measured seconds (default 15)")
    parser.add_argument("--warmup", type=float, help="warm-up seconds (default 3)")
    parser.add_argument(
        "--concurrency", type=int, default=4, help="connections (default 4)"
    )
    parser.add_argument(
        "--buyers",
        type=int,
        default=8,
        help="connections checking out at once in checkout-contention (default 8)",
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="gunicorn workers (default 1)"
    )
    parser.add_argument("--json", type=Path, help="where the results go")
    parser.add_argument(
        "--products",
        type=int,
        default=100_000,
        help="products in the large catalog (default 100000)",
    )
    parser.add_argument("--seed", type=int, default=1, help="the large catalog's seed")
    parser.add_argument(
        "--selling-products",
        type=int,
        default=2_000,
        help="products in the selling scenarios' catalog (default 2000)",
    )
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument(
        "--changes", type=int, help="status changes (default 12; --quick 3)"
    )
    parser.add_argument(
        "--idle-seconds", type=float, help="idle measurement (default 20; --quick 1)"
    )
    parser.add_argument(
        "--event-only",
        action="store_true",
        help="subscribers leave out the order (no database read per delivery)",
    )
    args = parser.parse_args()
    chosen = [ALIASES.get(name, name) for name in args.scenarios]
    chosen = [part for name in chosen for part in GROUPS.get(name, (name,))]
    if not chosen or "all" in chosen:
        chosen = list(SCENARIOS)
    unknown = sorted(set(chosen) - set(SCENARIOS))
    if unknown:
        parser.error(f"unknown scenario {', '.join(unknown)}")
    args.scenarios = [name for name in SCENARIOS if name in chosen]
    quick = args.quick
    for name, normal, brief in (
        ("seconds", 15.0, 2.5),
        ("warmup", 3.0, 0.5),
        ("changes", 12, 3),
        ("idle_seconds", 20.0, 1.0),
    ):
        if getattr(args, name) is None:
            setattr(args, name, brief if quick else normal)
    return args


def main() -> int:
    try:
        return run_all()
    finally:
        for server in STARTED:
            server.__exit__()


def run_all() -> int:
    args = parse_arguments()
    started = time.monotonic()
    stamp = datetime.now(UTC)
    run = Run(args)
    phases: dict[str, float] = {}  # seconds from the start, for the JSON
    machine = machine_info()
    print(
        f"{machine['cpu_model']}, {machine['cores']} cores, "
        f"{machine['memory_gib']} GiB; Python {machine['python']}, PostgreSQL "
        f"{machine['postgresql']}, Redis {machine['redis']}; "
        f"commit {machine['git_commit'][:10]}"
        + (" (uncommitted changes)" if machine["git_dirty"] else "")
    )
    flush_bench_redis()

    demo_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE)
    large_url = large_database_url()
    needs_demo = any(n not in LARGE | SELLING for n in args.scenarios)
    needs_large = any(n in LARGE for n in args.scenarios)
    needs_selling = any(n in SELLING for n in args.scenarios)
    selling_url = selling_database_url()
    # the Django helpers answer with the response cache off, as the servers that
    # measure execution run
    uncached = {"GRAPHQL_RESPONSE_CACHE": "false"}
    helpers: dict[str, DjangoHelper | InProcessHelper] = {}
    if needs_demo:
        create_database(demo_url)
        helpers["demo"] = InProcessHelper({**environment(demo_url), **uncached})
        helpers["demo"].send({"job": "prepare", "catalog": "demo"})
    if needs_selling:
        create_database(selling_url)
        helpers["selling"] = DjangoHelper({**environment(selling_url), **uncached})
        helpers["selling"].send(
            {
                "job": "prepare",
                "catalog": "large",
                "products": args.selling_products,
                "seed": args.seed,
            }
        )
    if needs_large:
        create_database(large_url)
        helpers["large"] = DjangoHelper({**environment(large_url), **uncached})
        helpers["large"].send(
            {
                "job": "prepare",
                "catalog": "large",
                "products": args.products,
                "seed": args.seed,
            }
        )
        print(
            f"large catalog: {args.products:,} products in "
            f"{large_url.rsplit('/', 1)[1]} (loaded once, then kept)...",
            flush=True,
        )
    # The servers start now, while the databases are prepared (a server starts
    # in seconds; no measurement runs yet). Each waits, idle, for its turn.
    logs = ROOT / "var" / "bench"
    logs.mkdir(parents=True, exist_ok=True)
    servers: dict[str, Server] = {}
    for group, database, cache, names in SERVER_GROUPS:
        if not any(n in args.scenarios for n in names):
            continue
        env = environment(
            {"demo": demo_url, "large": large_url, "selling": selling_url}[database]
        )
        env["GRAPHQL_RESPONSE_CACHE"] = "true" if cache else "false"
        log = logs / f"server-{stamp:%Y%m%dT%H%M%SZ}-{group}.log"
        servers[group] = Server(env, workers=args.workers, log=log)
        servers[group].start()
    if needs_demo:
        run.demo = helpers["demo"].receive()
        phases["demo catalog prepared"] = round(time.monotonic() - started, 1)
        run.demo_helper = helpers["demo"]
    if needs_selling:
        helpers["selling"].receive()
        helpers["selling"].send({"job": "selling"})
        helper = helpers.pop("selling")
        run.selling = helper.receive()
        helper.close()
        phases["selling catalog prepared"] = round(time.monotonic() - started, 1)
        print(f"selling catalog: {len(run.selling['products']):,} products")
    if needs_large:
        run.large = helpers["large"].receive()
        phases["large catalog prepared"] = round(time.monotonic() - started, 1)
        loaded = run.large["products"] - run.large["products_before"]
        print(
            f"large catalog: {run.large['products']:,} products"
            + (
                f" ({loaded:,} loaded in {run.large['load_seconds']:.1f} s by "
                f"`{run.large['command']}`)"
                if loaded
                else " (already loaded)"
            )
        )
    demo_counts, large_counts = query_requests(run)
    if demo_counts:
        helpers["demo"].send({"job": "queries", "requests": demo_counts})
    if large_counts:
        helpers["large"].send({"job": "queries", "requests": large_counts})
        run.queries.update(helpers["large"].receive())
        phases["large SQL counted"] = round(time.monotonic() - started, 1)
        helpers.pop("large").close()
    if demo_counts:
        run.queries.update(helpers["demo"].receive())
        phases["demo SQL counted"] = round(time.monotonic() - started, 1)
    prepared = time.monotonic() - started

    print(
        f"\ngunicorn -k shop.serve.UvicornWorker --workers {args.workers}; "
        f"{args.seconds:g} s measured after {args.warmup:g} s of warm-up per scenario"
    )
    print(HEADER)
    results: dict[str, dict] = {}
    failed = False
    try:
        for group, _, cache, names in SERVER_GROUPS:
            names = [n for n in names if n in args.scenarios]
            if not names:
                continue
            server = servers[group].ready()
            phases[f"server {group} ready"] = round(time.monotonic() - started, 1)
            for name in names:
                scenario_began = time.monotonic()
                try:
                    result = RUNNERS[name](run, server)
                except (Exception, SystemExit) as error:
                    # one scenario failing leaves the others' results standing
                    result = {
                        "failed": True,
                        "errors": 1,
                        "error_samples": [
                            str(error) if isinstance(error, SystemExit) else repr(error)
                        ],
                    }
                result["wall_seconds"] = time.monotonic() - scenario_began
                phases[name] = round(time.monotonic() - started, 1)
                result["connections"] = connections_of(run, name)
                result["response_cache"] = cache
                result["sql_queries_per_request"] = sql_per_request(run, name, result)
                results[name] = result
                print(row(name, result), flush=True)
                if name in SELLING and not result.get("failed"):
                    print(selling_line(result), flush=True)
                if result["errors"]:
                    failed = True
                    print(
                        f"  FAILED: {result['errors']} errors: "
                        f"{result['error_samples'][:2]}"
                    )
            server.__exit__()
            problems = log_problems(server.log)
            if problems:
                print(
                    f"  server log: {len(problems)} warnings or errors, in "
                    f"{server.log}:"
                )
                print("\n".join(f"    {line[:300]}" for line in problems[:3]))
            else:
                server.log.unlink()
    finally:
        for helper in helpers.values():
            helper.close()

    print(f"\n{HEADER}")
    for name in args.scenarios:
        print(row(name, results[name]))
        if name in SELLING and not results[name].get("failed"):
            print(selling_line(results[name]))
    checkout = results.get("checkout-contention")
    if checkout and not checkout.get("failed"):
        print(
            f"checkout-contention: {checkout['oversold']} units oversold; "
            f"{checkout['refused']} checkouts refused (sold out); "
            + "; ".join(
                f"variant {v['variant']}: stock {v['stock_before']} -> "
                f"{v['stock_after']}, {v['ordered']} ordered"
                for v in checkout["variants"]
            )
        )
    total = time.monotonic() - started
    print(
        f"total {total:.0f} s (preparing the databases and counting SQL: "
        f"{prepared:.0f} s)"
    )
    path = args.json or ROOT / "var" / "bench" / (
        f"results-{stamp.strftime('%Y%m%dT%H%M%SZ')}.json"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "started": stamp.isoformat(),
        "seconds_total": total,
        "seconds_preparing": prepared,
        "phases": phases,
        "machine": machine,
        "options": {
            key: (str(value) if isinstance(value, Path) else value)
            for key, value in vars(args).items()
        },
        "server": (
            f"gunicorn shop.asgi:application -k shop.serve.UvicornWorker "
            f"--workers {args.workers} --no-control-socket (DEBUG off)"
        ),
        "sql_counting": (
            "CaptureQueriesContext around the same request through Django's test "
            "client in a separate process on the same database and settings "
            "(third of three runs); pg_stat_statements is "
            + ("loaded" if machine["pg_stat_statements_loaded"] else "not loaded")
        ),
        "queries": run.queries,
        "demo_catalog": run.demo and {"product_slug": run.demo["product_slug"]},
        "large_catalog": run.large,
        "scenarios": results,
    }
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"results: {path}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
