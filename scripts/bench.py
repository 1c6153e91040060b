"""Benchmarks against a real server process: PostgreSQL, Redis, one uvicorn worker.

usage: scripts/bench [cart|catalog|checkout|all] [--seconds N] [--concurrency N]
       scripts/bench subscriptions [--subscribers N] [--changes N] [--idle-seconds N]
                                   [--event-only]

Each benchmark seeds the demo catalog into its own database (BENCH_DATABASE_URL,
default postgres://postgres@127.0.0.1:5432/shop_bench; Redis BENCH_REDIS_URL,
default redis://127.0.0.1:6379/14), starts one worker of
``uvicorn shop.asgi:application --no-proxy-headers`` on a free loopback port,
drives it over HTTP from client threads for a fixed time, and prints operations
per second and latency percentiles. Load goes to 127.0.0.1 only, is bounded in
time, and stops by itself.

``subscriptions`` (two to four minutes, so not part of ``all``) opens 1,000
graphql-transport-ws sockets to a fresh worker, each following the same few guest
orders by token (``orderStatusChanged(token:, includeCurrent: true)``, one
subscription per order). It measures the server's CPU and memory while they sit
idle, then makes status changes one at a time with ``order_transition`` in this
process (as a Celery worker would), each once every subscriber has the previous
one, and prints the delay from each change's commit to its receipt by every
subscriber (p50, p99, max). It fails if a subscriber misses, repeats or reorders a
change, or if the server still holds group memberships a minute after the sockets
close.
"""

import argparse
import asyncio
import base64
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
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


class Server:
    """uvicorn with one worker process, for the duration of a ``with`` block."""

    def __init__(self, env: dict[str, str], log: Path | None = None) -> None:
        self.env = env
        self.port = free_port()
        self.log = log  # the server's output goes there instead of the terminal

    def __enter__(self) -> "Server":
        output = self.log.open("ab") if self.log else None
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
            # a socket is a file: 1,000 subscribers need more than the usual 1,024
            preexec_fn=raise_open_files_limit,
            stdout=output,
            stderr=output,
        )
        if output:
            output.close()  # the server has its own copy
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
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            print("the server did not stop within 30 s of SIGTERM: killed")
            os.killpg(self.process.pid, signal.SIGKILL)
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


GUEST_ORDER = """mutation($token: String!, $key: String!) {
  checkout(input: {cartToken: $token, email: "bench@example.com", idempotencyKey: $key,
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
    for index in range(count):
        cart = client.graphql(
            ADD, {"lines": [{"variantId": variant["id"], "quantity": 1}]}
        )["cartLinesAdd"]["cart"]["token"]
        placed = client.graphql(
            GUEST_ORDER, {"token": cart, "key": f"follow-{time.time_ns()}-{index}"}
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

    pid = server.process.pid
    orders = guest_orders(server.port, -(-changes // len(FORWARD)))
    tokens = [token for _, token in orders]
    _, rss_before = process_usage(pid)
    fanout = Fanout(subscribers)
    url = f"ws://127.0.0.1:{server.port}/graphql/"
    sockets = [Subscriber(url, document, tokens, fanout) for _ in range(subscribers)]
    handshakes = asyncio.Semaphore(100)

    async def open_one(subscriber: Subscriber) -> None:
        async with handshakes:
            await subscriber.open()

    began = time.monotonic()
    cpu_before, _ = process_usage(pid)
    try:
        await asyncio.gather(*(open_one(subscriber) for subscriber in sockets))
    except Exception as error:
        raise SystemExit(f"a subscriber could not subscribe: {error!r}") from error
    ready_seconds = time.monotonic() - began
    cpu_after, _ = process_usage(pid)
    subscribe_cpu = (cpu_after - cpu_before) / (subscribers * len(orders))

    await asyncio.sleep(2)  # let the last subscriptions settle
    cpu_before, _ = process_usage(pid)
    idle_began = time.monotonic()
    await asyncio.sleep(idle_seconds)
    cpu_after, rss_idle = process_usage(pid)
    idle_cpu = (cpu_after - cpu_before) / (time.monotonic() - idle_began)

    loop = asyncio.get_running_loop()
    django = ThreadPoolExecutor(max_workers=1)  # one thread: one DB connection
    delays: list[float] = []
    firsts: list[float] = []
    expected: list[tuple[int, str]] = []
    cpu_before, _ = process_usage(pid)
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
    cpu_after, _ = process_usage(pid)
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


def bench_subscriptions(
    env: dict[str, str],
    subscribers: int,
    changes: int,
    idle_seconds: float,
    event_only: bool,
) -> int:
    """Live order status: ``subscribers`` sockets on one worker, each following
    the same guest orders; idle CPU, then the delay of each status change to
    every subscriber."""
    raise_open_files_limit()  # the client end of every socket is here too
    django_setup(env)
    document = FOLLOW_EVENT_ONLY if event_only else FOLLOW
    # uvicorn logs every socket it accepts and closes: keep them off the terminal
    log = Path(tempfile.gettempdir()) / f"shop-bench-subscriptions-{os.getpid()}.log"
    with Server(env, log=log) as server:
        result = asyncio.run(
            follow_orders(server, document, subscribers, changes, idle_seconds)
        )
    selection = "status previousStatus at" + ("" if event_only else " order { number }")
    print(
        f"subscriptions {subscribers} sockets x {result['orders']} "
        f"order{'s' if result['orders'] != 1 else ''} followed "
        f"(graphql-transport-ws, anonymous, by token; {selection}), "
        f"ready in {result['ready_seconds']:.1f} s "
        f"(server CPU {result['subscribe_cpu_ms']:.1f} ms per subscription)\n"
        f"  idle {idle_seconds:g} s: server CPU {result['idle_cpu_percent']:.2f}% "
        f"of a core, RSS {result['rss_mib']:.0f} MiB "
        f"(+{result['rss_added_mib']:.0f} MiB for the sockets)\n"
        f"  {changes} status changes x {subscribers} subscribers, commit to "
        f"receipt: p50 {result['p50_ms']:.1f} ms  p99 {result['p99_ms']:.1f} ms  "
        f"max {result['max_ms']:.1f} ms  (first receipt {result['first_ms']:.1f} ms; "
        f"CPU per delivery: server {result['delivery_cpu_ms']:.2f} ms, "
        f"bench process {result['client_cpu_ms']:.2f} ms)"
    )
    problems = log_problems(log)
    if problems:
        print(f"  server log: {len(problems)} warnings or errors, in {log}:")
        print("\n".join(f"    {line[:300]}" for line in problems[:3]))
    else:
        log.unlink()
    if result["wrong_sockets"] or result["members_left"]:
        print(
            f"  FAILED: {result['wrong_sockets']} sockets missed, repeated or "
            f"reordered a change; {result['members_left']} group members left "
            f"{result['released_seconds']:.0f} s after closing"
        )
        return 1
    print(
        "  every subscriber got every change once, in order; all groups left "
        f"{result['released_seconds']:.1f} s after the sockets closed"
    )
    return 0


BENCHMARKS = {"cart": bench_cart, "catalog": bench_catalog, "checkout": bench_checkout}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "which", nargs="?", default="all", choices=[*BENCHMARKS, "subscriptions", "all"]
    )
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--changes", type=int, default=12)
    parser.add_argument("--idle-seconds", type=float, default=20)
    parser.add_argument("--event-only", action="store_true")
    args = parser.parse_args()
    env = environment()
    prepare(env)
    names = {"all": list(BENCHMARKS), "subscriptions": []}.get(args.which, [args.which])
    if names:
        print(
            f"one uvicorn worker, {args.concurrency} client threads, {args.seconds:g} s"
        )
        with Server(env) as server:
            for name in names:
                result = BENCHMARKS[name](server.port, args.seconds, args.concurrency)
                print(
                    f"{name:8s} {result['per_second']:8.1f} ops/s  "
                    f"p50 {result['p50_ms']:6.1f} ms  p95 {result['p95_ms']:6.1f} ms  "
                    f"p99 {result['p99_ms']:6.1f} ms  "
                    f"({result['operations']} operations)"
                )
    if args.which == "subscriptions":
        return bench_subscriptions(
            env, args.subscribers, args.changes, args.idle_seconds, args.event_only
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
