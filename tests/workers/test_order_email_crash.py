"""A worker killed while it sends an order email: the email still goes out, once.

Real `celery -A workers worker` processes on the test database and Redis, with a
mail backend (tests/workers/held_mail.py) that a test holds mid-send, so that it can
SIGKILL the worker at that moment.
"""

import contextlib
import os
import signal
import subprocess
import time
from email import message_from_bytes
from pathlib import Path

import pytest

from shop.orders.models import Order
from tests.e2e.servers import celery_worker, server_database_url
from tests.factories import make_product
from tests.orders_helpers import guest_cart, guest_checkout

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def mail_dir(tmp_path):
    folder = tmp_path / "mail"
    folder.mkdir()
    (folder / "hold").touch()
    yield folder
    (folder / "hold").unlink(missing_ok=True)


@pytest.fixture
def workers(mail_dir, tmp_path):
    """Starts worker processes on the test database; stops what is left of them."""
    with contextlib.ExitStack() as running:

        def start(name: str, *options: str, **env: str) -> subprocess.Popen:
            environment = {
                **os.environ,
                "DATABASE_URL": server_database_url(),
                "DJANGO_SETTINGS_MODULE": "tests.workers.worker_settings",
                "HELD_MAIL_DIR": str(mail_dir),
                **env,
            }
            log = tmp_path / f"{name}.log"
            return running.enter_context(
                celery_worker(name, environment, log, *options)
            )

        yield start
        (mail_dir / "hold").unlink(missing_ok=True)


def wait_for(folder: Path, pattern: str, seconds: float = 30) -> list[Path]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if found := sorted(folder.glob(pattern)):
            return found
        time.sleep(0.05)
    return []


@pytest.fixture
def variant(db):
    return make_product(
        name="Desk Lamp", variants=[{"name": "Brass", "quantity_available": 5}]
    ).variants.get()


def test_a_worker_killed_mid_send_leaves_the_email_to_the_next_worker(
    workers, mail_dir, variant, tmp_path
):
    first = workers("first", "--pool", "solo", ORDER_EMAIL_LEASE_SECONDS="2")
    order = guest_checkout(guest_cart((variant, 1)), email="ada@example.com")
    assert wait_for(mail_dir, "sending-*"), "the first worker never started to send"

    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    (mail_dir / "hold").unlink()
    assert Order.objects.get(pk=order.pk).confirmation_sent_at is None
    time.sleep(2)  # the dead worker's lease on the email runs out

    # The broker gives the unacknowledged message to the next worker that starts
    # (after an hour in production, after a second here).
    workers("second", "--pool", "solo", TEST_VISIBILITY_TIMEOUT="1")
    [sent] = wait_for(mail_dir, "sent-*") or [None]
    assert sent, "no email: " + (tmp_path / "second.log").read_text()
    time.sleep(1)  # anything else the second worker might send
    assert len(list(mail_dir.glob("sent-*"))) == 1
    message = message_from_bytes(sent.read_bytes())
    assert message["To"] == "ada@example.com"
    assert message["Subject"] == f"Your order {order.number} is confirmed"
    order.refresh_from_db()
    assert order.confirmation_sent_at is not None
    assert order.confirmation_claimed_until is None


def test_a_redelivery_during_the_dead_workers_lease_waits_for_it(
    workers, mail_dir, variant, tmp_path
):
    # A prefork worker whose pool process dies puts the task back on the queue at
    # once (acks_late, reject_on_worker_lost): it comes back while the lease holds.
    workers(
        "prefork", "--pool", "prefork", "--concurrency", "1",
        ORDER_EMAIL_LEASE_SECONDS="10",
    )  # fmt: skip
    order = guest_checkout(guest_cart((variant, 1)), email="ada@example.com")
    [sending] = wait_for(mail_dir, "sending-*")
    lease_end = Order.objects.get(pk=order.pk).confirmation_claimed_until
    assert lease_end is not None

    pool_process = int(sending.name.split("-")[1])
    os.kill(pool_process, signal.SIGKILL)
    (mail_dir / "hold").unlink()

    [sent] = wait_for(mail_dir, "sent-*", seconds=40) or [None]
    assert sent, "no email: " + (tmp_path / "prefork.log").read_text()
    time.sleep(1)
    assert len(list(mail_dir.glob("sent-*"))) == 1
    assert message_from_bytes(sent.read_bytes())["Subject"] == (
        f"Your order {order.number} is confirmed"
    )
    # The redelivery found the dead process's lease and came back when it ended.
    assert "retry: Retry in" in (tmp_path / "prefork.log").read_text()
    assert sent.stat().st_mtime >= lease_end.timestamp()
    order.refresh_from_db()
    assert order.confirmation_sent_at is not None
    assert order.confirmation_claimed_until is None
