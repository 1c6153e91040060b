"""Benchmarks against a real server process: PostgreSQL, Redis, one uvicorn worker.

usage: scripts/bench [cart|catalog|checkout|all] [--seconds N] [--concurrency N]

Each benchmark seeds the demo catalog into its own database (BENCH_DATABASE_URL,
default postgres://postgres@127.0.0.1:5432/shop_bench; Redis BENCH_REDIS_URL,
default redis://127.0.0.1:6379/14), starts one worker of
``uvicorn shop.asgi:application --no-proxy-headers`` on a free loopback port,
drives it over HTTP from client threads for a fixed time, and prints operations
per second and latency percentiles. Load goes to 127.0.0.1 only, is bounded in
time, and stops by itself.
"""

import argparse
import base64
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python")

VARIANTS = """{ products(first: 100, filters: {inStock: true}) {
  edges { node { variants { id quantityAvailable } } } } }"""
ADD = """mutation($token: String, $lines: [CartLineInput!]!) {
  cartLinesAdd(token: $token, lines: $lines) {
    cart { token totalQuantity subtotal { amount } } errors { code } } }"""
UPDATE = """mutation($token: String, $lines: [CartLineInput!]!) {
  cartLinesUpdate(token: $token, lines: $lines) {
    cart { totalQuantity subtotal { amount } } errors { code } } }"""
CHECKOUT = """mutation($token: String!, $key: String!) {
  checkout(input: {cartToken: $token, email: "bench@example.com", idempotencyKey: $key,
    shippingAddress: {name: "Bench", line1: "1 Load St", city: "Test",
                      postalCode: "0000", country: "US"}}) {
    order { number status total { amount } } errors { code } } }"""
LISTING = """query($after: String) { products(first: 24, after: $after,
  ordering: [{price: ASC}], filters: {inStock: true}) {
  totalCount pageInfo { endCursor }
  edges { node { name slug inStock priceRange { min { amount } }
    variants { sku price { amount } attributes { attribute { slug } value { name } } }
  } } } }"""


def environment() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=os.environ.get(
            "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/shop_bench"
        ),
        REDIS_URL=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14"),
        DJANGO_SECRET_KEY="bench-only-secret-key-0123456789abcdefghijklmnop",
        DJANGO_DEBUG="false",
        DJANGO_LOG_LEVEL="WARNING",
        # production settings need Stripe keys; the benchmarks never call Stripe
        STRIPE_SECRET_KEY=os.environ.get("STRIPE_SECRET_KEY") or "sk_test_bench",
        STRIPE_WEBHOOK_SECRET=os.environ.get("STRIPE_WEBHOOK_SECRET") or "whsec_bench",
        STRIPE_API_BASE="http://127.0.0.1:9",
        # the load comes from one IP: keep the sign-in throttle out of the way
        LOGIN_FAILURES_PER_IP="1000000",
    )
    return env


def prepare(env: dict[str, str]) -> None:
    import psycopg

    url = env["DATABASE_URL"]
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as db:
        exists = db.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
        ).fetchone()
        if not exists:
            db.execute(f'CREATE DATABASE "{name}"')
    for command in (["migrate", "--noinput", "-v0"], ["seed_demo"]):
        subprocess.run(
            [PYTHON, "manage.py", *command],
            cwd=ROOT,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """uvicorn with one worker process, for the duration of a ``with`` block."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.port = free_port()

    def __enter__(self) -> "Server":
        self.process = subprocess.Popen(
            [
                str(ROOT / ".venv" / "bin" / "uvicorn"),
                "shop.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                "1",
                "--lifespan",
                "off",
                "--no-proxy-headers",  # as every shop server (shop/serve.py)
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=self.env,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if Client(self.port).get("/healthz/") == 200:
                    return self
            except OSError:
                time.sleep(0.2)
        self.__exit__()
        raise SystemExit("the server did not start")

    def __exit__(self, *exc) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=30)


class Client:
    """One keep-alive HTTP connection posting GraphQL documents."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def get(self, path: str) -> int:
        self.connection.request("GET", path)
        response = self.connection.getresponse()
        response.read()
        return response.status

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        body = json.dumps({"query": query, "variables": variables or {}})
        self.connection.request(
            "POST", "/graphql/", body, {"Content-Type": "application/json"}
        )
        response = self.connection.getresponse()
        payload = json.loads(response.read())
        if response.status != 200 or payload.get("errors"):
            raise RuntimeError(f"{response.status}: {payload}")
        return payload["data"]


def drive(port: int, seconds: float, concurrency: int, make_step) -> dict:
    """Run ``make_step(client, n)`` steps from client threads for ``seconds``."""
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    failures: list[str] = []
    stop = time.monotonic() + seconds

    def worker(index: int) -> None:
        client = Client(port)
        step = make_step(client, index)
        try:
            while time.monotonic() < stop:
                started = time.perf_counter()
                step()
                latencies[index].append(time.perf_counter() - started)
        except Exception as error:
            failures.append(repr(error)[:300])

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    samples = sorted(x for per_thread in latencies for x in per_thread)
    if failures or not samples:
        raise SystemExit(f"benchmark failed: {failures[:3]}")

    def percentile(p: float) -> float:
        return samples[min(len(samples) - 1, int(p * len(samples)))] * 1000

    return {
        "operations": len(samples),
        "per_second": len(samples) / elapsed,
        "p50_ms": percentile(0.50),
        "p95_ms": percentile(0.95),
        "p99_ms": percentile(0.99),
        "mean_ms": statistics.fmean(samples) * 1000,
    }


def bench_cart(port: int, seconds: float, concurrency: int) -> dict:
    """Cart mutations: each client alternates cartLinesAdd (+1) and cartLinesUpdate
    (back to 1) on its own guest cart, over the in-stock variants."""
    data = Client(port).graphql(VARIANTS)
    variants = [
        variant["id"]
        for edge in data["products"]["edges"]
        for variant in edge["node"]["variants"]
        if variant["quantityAvailable"] >= 2
    ][:50]  # within the per-cart line limit

    def make_step(client: Client, index: int):
        first = variants[index % len(variants)]
        token = client.graphql(ADD, {"lines": [{"variantId": first, "quantity": 1}]})[
            "cartLinesAdd"
        ]["cart"]["token"]
        counter = iter(range(10**9))

        def step() -> None:
            n = next(counter)
            variant = variants[(index * 7 + n // 2) % len(variants)]
            document = ADD if n % 2 == 0 else UPDATE
            result = client.graphql(
                document,
                {"token": token, "lines": [{"variantId": variant, "quantity": 1}]},
            )
            payload = next(iter(result.values()))
            if payload["errors"]:
                raise RuntimeError(payload["errors"])

        return step

    return drive(port, seconds, concurrency, make_step)


def bench_catalog(port: int, seconds: float, concurrency: int) -> dict:
    """Product listing pages (24 products with variants and attributes)."""

    def make_step(client: Client, index: int):
        def step() -> None:
            client.graphql(LISTING)

        return step

    return drive(port, seconds, concurrency, make_step)


def bench_checkout(port: int, seconds: float, concurrency: int) -> dict:
    """Checkouts under contention: every client buys the same variant (one row
    lock for all), each step a cartLinesAdd on a fresh guest cart plus checkout."""
    import psycopg  # the server's environment has it

    hot = Client(port).graphql(VARIANTS)["products"]["edges"][0]["node"]["variants"][0]
    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as db:
        db.execute(
            "UPDATE catalog_productvariant SET quantity_available = 1000000 "
            "WHERE id = %s",
            (int(base64.b64decode(hot["id"]).decode().split(":")[1]),),
        )

    def make_step(client: Client, index: int):
        counter = iter(range(10**9))

        def step() -> None:
            added = client.graphql(
                ADD, {"lines": [{"variantId": hot["id"], "quantity": 1}]}
            )["cartLinesAdd"]
            token = added["cart"]["token"]
            result = client.graphql(
                CHECKOUT, {"token": token, "key": f"{index}-{next(counter)}"}
            )["checkout"]
            if result["errors"] or result["order"]["status"] != "PENDING_PAYMENT":
                raise RuntimeError(result)

        return step

    return drive(port, seconds, concurrency, make_step)


BENCHMARKS = {"cart": bench_cart, "catalog": bench_catalog, "checkout": bench_checkout}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("which", nargs="?", default="all", choices=[*BENCHMARKS, "all"])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    env = environment()
    prepare(env)
    names = list(BENCHMARKS) if args.which == "all" else [args.which]
    print(f"one uvicorn worker, {args.concurrency} client threads, {args.seconds:g} s")
    with Server(env) as server:
        for name in names:
            result = BENCHMARKS[name](server.port, args.seconds, args.concurrency)
            print(
                f"{name:8s} {result['per_second']:8.1f} ops/s  "
                f"p50 {result['p50_ms']:6.1f} ms  p95 {result['p95_ms']:6.1f} ms  "
                f"p99 {result['p99_ms']:6.1f} ms  ({result['operations']} operations)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
