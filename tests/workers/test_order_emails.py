"""Order emails go out through a real Celery worker, after commit only."""

import logging
import time
from datetime import timedelta

import pytest
from celery.contrib.testing.worker import start_worker
from django.core import mail
from django.core.mail import EmailMessage
from django.db import transaction
from django.utils import timezone

from shop.orders.models import CancelReason, Order, OrderStatus
from shop.orders.notifications import EmailOutcome, OrderEmailClaimed, order_email_send
from shop.orders.services import order_transition
from tests.factories import make_product
from tests.orders_helpers import guest_cart, guest_checkout
from workers import app

pytestmark = pytest.mark.django_db(transaction=True)

SENT, ALREADY_SENT = EmailOutcome.SENT, EmailOutcome.ALREADY_SENT


@pytest.fixture
def worker():
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        yield


def wait_for_mail(count: int, seconds: float = 15) -> list:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and len(mail.outbox) < count:
        time.sleep(0.1)
    return mail.outbox


def recorded(order: Order, field: str, seconds: float = 10) -> bool:
    """Whether the worker set ``field`` on the order within ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if getattr(Order.objects.get(pk=order.pk), field) is not None:
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def variant(db):
    return make_product(
        name="Desk Lamp", variants=[{"name": "Brass", "quantity_available": 5}]
    ).variants.get()


def test_confirmation_email_after_commit(worker, variant):
    order = guest_checkout(guest_cart((variant, 2)), email="ada@example.com")
    [message] = wait_for_mail(1)
    assert message.to == ["ada@example.com"]
    assert message.subject == f"Your order {order.number} is confirmed"
    assert "2 x Desk Lamp (Brass)" in message.body
    assert f"Total: {order.total} USD" in message.body
    [(html, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    assert "<strong>" in html
    assert order.number in html
    # The worker records the send right after the mail server took it.
    assert recorded(order, "confirmation_sent_at")


def test_no_email_when_the_transaction_rolls_back(worker, variant):
    token = guest_cart((variant, 1))

    def checkout_then_fail():
        with transaction.atomic():
            guest_checkout(token)
            raise RuntimeError("the request failed after checkout")

    with pytest.raises(RuntimeError):
        checkout_then_fail()
    assert not Order.objects.exists()
    # give the worker time to send anything it might have received
    time.sleep(2)
    assert mail.outbox == []
    # and a later, committed checkout is mailed
    guest_checkout(token)
    assert len(wait_for_mail(1)) == 1


def test_cancellation_email(worker, variant):
    order = guest_checkout(guest_cart((variant, 1)), email="ada@example.com")
    wait_for_mail(1)
    order_transition(
        order_id=order.pk,
        to_status=OrderStatus.CANCELED,
        cancel_reason=CancelReason.BUYER,
    )
    messages = wait_for_mail(2)
    assert messages[1].subject == f"Your order {order.number} was canceled"
    assert "1 x Desk Lamp (Brass)" in messages[1].body


def test_an_email_task_run_twice_sends_once(variant):
    order = guest_checkout(guest_cart((variant, 1)))
    assert order_email_send(order_id=order.pk, kind="confirmation") == SENT
    assert order_email_send(order_id=order.pk, kind="confirmation") == ALREADY_SENT
    assert len(mail.outbox) == 1
    order.refresh_from_db()
    assert order.confirmation_sent_at is not None
    assert order.confirmation_claimed_until is None


def test_a_failed_send_can_be_retried(variant, monkeypatch):
    order = guest_checkout(guest_cart((variant, 1)))

    def refuse(self, *args, **kwargs):
        raise ConnectionError("smtp down")

    monkeypatch.setattr("django.core.mail.EmailMessage.send", refuse)
    with pytest.raises(ConnectionError):
        order_email_send(order_id=order.pk, kind="confirmation")
    order.refresh_from_db()
    assert order.confirmation_sent_at is None
    assert order.confirmation_claimed_until is None  # given back for the retry
    monkeypatch.undo()
    assert order_email_send(order_id=order.pk, kind="confirmation") == SENT
    assert len(mail.outbox) == 1


def test_an_email_whose_sender_died_is_sent_once_its_lease_ended(variant):
    # A worker claimed the email and died before sending it: nothing released the
    # claim, its lease ran out.
    order = guest_checkout(guest_cart((variant, 1)))
    Order.objects.filter(pk=order.pk).update(
        confirmation_claimed_until=timezone.now() - timedelta(seconds=1)
    )
    assert order_email_send(order_id=order.pk, kind="confirmation") == SENT
    assert [m.subject for m in mail.outbox] == [
        f"Your order {order.number} is confirmed"
    ]
    order.refresh_from_db()
    assert order.confirmation_sent_at is not None
    assert order.confirmation_claimed_until is None


def test_an_email_under_a_live_lease_is_deferred_not_dropped(variant, settings):
    settings.ORDER_EMAIL_LEASE_SECONDS = 300
    order = guest_checkout(guest_cart((variant, 1)))
    held_until = timezone.now() + timedelta(seconds=120)
    Order.objects.filter(pk=order.pk).update(confirmation_claimed_until=held_until)
    with pytest.raises(OrderEmailClaimed) as claimed:
        order_email_send(order_id=order.pk, kind="confirmation")
    assert claimed.value.until == held_until
    assert 119 <= claimed.value.seconds_left <= 120
    assert mail.outbox == []
    order.refresh_from_db()
    assert order.confirmation_sent_at is None
    assert order.confirmation_claimed_until == held_until


def test_a_second_run_during_a_send_defers_and_the_email_goes_once(
    variant, monkeypatch
):
    order = guest_checkout(guest_cart((variant, 1)))
    send = EmailMessage.send
    during_send = []

    def send_while_another_run_starts(message, *args, **kwargs):
        with pytest.raises(OrderEmailClaimed) as claimed:
            order_email_send(order_id=order.pk, kind="confirmation")
        during_send.append(claimed.value.seconds_left)
        return send(message, *args, **kwargs)

    monkeypatch.setattr(EmailMessage, "send", send_while_another_run_starts)
    assert order_email_send(order_id=order.pk, kind="confirmation") == SENT
    monkeypatch.undo()
    assert during_send == [300]
    # the second run, back after the lease: already sent
    assert order_email_send(order_id=order.pk, kind="confirmation") == ALREADY_SENT
    assert len(mail.outbox) == 1


def test_the_task_comes_back_when_a_dead_workers_lease_ends(variant):
    order = guest_checkout(guest_cart((variant, 1)), email="ada@example.com")
    # A worker that died mid-send holds the email for two more seconds.
    Order.objects.filter(pk=order.pk).update(
        confirmation_claimed_until=timezone.now() + timedelta(seconds=2)
    )
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        time.sleep(1)
        assert mail.outbox == []  # deferred, not sent under the lease
        [message] = wait_for_mail(1)
        assert message.subject == f"Your order {order.number} is confirmed"
        time.sleep(1)
    assert len(mail.outbox) == 1
    assert Order.objects.get(pk=order.pk).confirmation_sent_at is not None


def test_confirmations_to_one_address_are_capped_orders_are_not(
    worker, variant, settings, caplog
):
    settings.ORDER_EMAILS_PER_RECIPIENT = 3
    # (a worker started by an earlier test may have left the root logger at ERROR)
    caplog.set_level(logging.WARNING, logger="shop.orders.notifications")
    addresses = [
        "ada@example.com",
        "Ada@Example.com",
        " ada@example.COM",
        "ada+shop@example.com",  # the same mailbox
    ]
    orders = [
        guest_checkout(guest_cart((variant, 1)), email=address) for address in addresses
    ]
    other = guest_checkout(guest_cart((variant, 1)), email="bob@example.com")
    messages = wait_for_mail(4)
    time.sleep(1)  # a fifth email would have arrived by now
    assert len(mail.outbox) == 4
    recipients = [m.to[0].lower().replace("+shop", "") for m in messages]
    assert sorted(recipients) == [*["ada@example.com"] * 3, "bob@example.com"]
    assert Order.objects.count() == 5
    assert Order.objects.get(pk=other.pk).confirmation_sent_at is not None
    [skipped] = Order.objects.filter(
        pk__in=[o.pk for o in orders], confirmation_sent_at=None
    )
    assert skipped.confirmation_claimed_until is None
    [warning] = [r for r in caplog.records if r.levelname == "WARNING"]
    assert warning.getMessage() == (
        f"Order {skipped.number}: confirmation email not sent, its address had 3 "
        "order emails within 3600 s"
    )


def test_the_beat_schedule_expires_orders():
    entry = app.conf.beat_schedule["orders-expire"]
    assert entry["task"] == "workers.tasks.orders.orders_expire"
    assert entry["task"] in app.tasks
