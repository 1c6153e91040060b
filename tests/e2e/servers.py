"""Start a server process for end-to-end tests, and stop it."""

import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def server_database_url() -> str:
    """The test database, for server processes started by a test."""
    settings = connection.settings_dict
    return (
        f"postgres://{settings['USER']}@{settings['HOST'] or '127.0.0.1'}:"
        f"{settings['PORT'] or 5432}/{settings['NAME']}"
    )


def free_port() -> int:
    """A free port that another test's server will not be given before this
    one's server binds it (a dev server seeds its catalog first, for seconds).

    Not bind(0): the kernel hands out its ephemeral ports in turn, so a server
    started meanwhile on another worker could get the same one, and the probe
    would find that server answering. Ports below the ephemeral range are never
    handed out by the kernel; picked at random, two workers meet on one about
    once in 20,000 pairs."""
    low = _ephemeral_low()
    while True:
        port = random.randrange(10_000, low)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


def _ephemeral_low() -> int:
    try:
        text = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text()
        return int(text.split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def stop_group(
    process: subprocess.Popen, *, timeout: float = 20, strict: bool = True
) -> None:
    """SIGTERM the process's group (it was started in a session of its own) and
    wait; SIGKILL it if it has not stopped within ``timeout`` s, so that nothing is
    left holding the test database, and then raise unless ``strict`` is off."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        if strict:
            raise


@contextlib.contextmanager
def running(
    command: list[str], *, env: dict, port: int, log: Path, probe: str, seconds=180
) -> Iterator[str]:
    """Run ``command`` until ``probe`` answers 200; yield its base URL; stop it."""
    with log.open("w") as output:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(base + probe, timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            time.sleep(0.3)
        try:
            assert process.poll() is None, log.read_text()
            yield base
        finally:
            stop_group(process)


@contextlib.contextmanager
def uvicorn(env: dict, log: Path) -> Iterator[str]:
    """uvicorn serving the shop with ``env`` on a free port, proxy headers off as
    in every documented command (shop.serve); yields its base URL once /readyz/
    answers."""
    port = free_port()
    command = [
        str(ROOT / ".venv" / "bin" / "uvicorn"),
        "shop.asgi:application",
        "--port",
        str(port),
        "--lifespan",
        "off",
        "--no-proxy-headers",
    ]
    with running(command, env=env, port=port, log=log, probe="/readyz/") as base:
        yield base


@contextlib.contextmanager
def gunicorn(env: dict, log: Path, *, workers: int = 1) -> Iterator[str]:
    """gunicorn with ``workers`` uvicorn workers, as in production, on a free
    port; yields its base URL once /readyz/ answers."""
    port = free_port()
    command = [
        str(ROOT / ".venv" / "bin" / "gunicorn"),
        "shop.asgi:application",
        "-k",
        "shop.serve.UvicornWorker",
        "--no-control-socket",
        "-w",
        str(workers),
        "-b",
        f"127.0.0.1:{port}",
    ]
    with running(command, env=env, port=port, log=log, probe="/readyz/") as base:
        yield base


class Storefront:
    """What an Apollo client does: POST JSON, keep a token and a cart token."""

    def __init__(self, base: str, headers: dict[str, str] | None = None) -> None:
        self.base = base
        self.token: str | None = None
        self.headers = headers or {}

    def __call__(self, query: str, **variables) -> dict:
        headers = {"Content-Type": "application/json", **self.headers}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(
            f"{self.base}/graphql/",
            data=json.dumps({"query": query, "variables": variables}).encode(),
            headers=headers,
        )
        with urllib.request.urlopen(request, timeout=20) as response:
            body = json.loads(response.read())
        assert "errors" not in body, body
        return body["data"]


@contextlib.contextmanager
def celery_worker(
    name: str, env: dict, log: Path, *options: str
) -> Iterator[subprocess.Popen]:
    """A real ``celery -A workers worker`` (solo pool unless ``options`` say
    otherwise) with ``env``, once it answers a ping; stopped (SIGTERM, then SIGKILL)
    at the end unless it is gone already."""
    from workers import app

    with log.open("w") as output:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "celery"), "-A", "workers", "worker"]
            + ["--pool", "solo", "--loglevel", "INFO", "--hostname", f"{name}@%h"]
            + ["--without-mingle", "--without-gossip", *options],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            node = f"{name}@{os.uname().nodename}"
            deadline = time.monotonic() + 60
            while not app.control.ping(destination=[node], timeout=0.5):
                assert process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
            yield process
        finally:
            if process.poll() is None:
                stop_group(process, timeout=30, strict=False)


def post_webhook(base: str, event: dict) -> dict:
    """POST a Stripe event to the server's webhook, signed as Stripe signs it."""
    from django.conf import settings

    from tests.stripe_fake import signature_for

    payload = json.dumps(event)
    request = urllib.request.Request(
        f"{base}/webhooks/stripe/",
        data=payload.encode(),
        headers={
            "Content-Type": "application/json",
            "Stripe-Signature": signature_for(payload, settings.STRIPE_WEBHOOK_SECRET),
        },
    )
    with urllib.request.urlopen(request, timeout=20) as response:
        assert response.status == 200
        return json.loads(response.read())
