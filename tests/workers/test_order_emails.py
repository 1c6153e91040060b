"""Order emails go out through a real Celery worker, after commit only."""

import time

import pytest
from celery.contrib.testing.worker import start_worker
from django.core import mail
from django.db import transaction

from shop.orders.models import Order, OrderStatus
from shop.orders.notifications import order_email_send
from shop.orders.services import order_transition
from tests.factories import make_product
from tests.orders_helpers import guest_cart, guest_checkout
from workers import app

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def worker():
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        yield


def wait_for_mail(count: int, seconds: float = 15) -> list:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and len(mail.outbox) < count:
        time.sleep(0.1)
    return mail.outbox


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
    assert Order.objects.get(pk=order.pk).confirmation_sent_at is not None


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
    order_transition(order_id=order.pk, to_status=OrderStatus.CANCELED)
    messages = wait_for_mail(2)
    assert messages[1].subject == f"Your order {order.number} was canceled"
    assert "1 x Desk Lamp (Brass)" in messages[1].body


def test_an_email_task_run_twice_sends_once(variant):
    order = guest_checkout(guest_cart((variant, 1)))
    assert order_email_send(order_id=order.pk, kind="confirmation") is True
    assert order_email_send(order_id=order.pk, kind="confirmation") is False
    assert len(mail.outbox) == 1


def test_a_failed_send_can_be_retried(variant, monkeypatch):
    order = guest_checkout(guest_cart((variant, 1)))

    def refuse(self, *args, **kwargs):
        raise ConnectionError("smtp down")

    monkeypatch.setattr("django.core.mail.EmailMessage.send", refuse)
    with pytest.raises(ConnectionError):
        order_email_send(order_id=order.pk, kind="confirmation")
    assert Order.objects.get(pk=order.pk).confirmation_sent_at is None
    monkeypatch.undo()
    assert order_email_send(order_id=order.pk, kind="confirmation") is True


def test_the_beat_schedule_expires_orders():
    entry = app.conf.beat_schedule["orders-expire"]
    assert entry["task"] == "workers.tasks.orders.orders_expire"
    assert entry["task"] in app.tasks
