"""Order emails to one address are capped per window (ORDER_EMAILS_PER_RECIPIENT)."""

import time

import pytest
from django.core import mail
from redis.exceptions import ConnectionError as RedisConnectionError

from shop.orders.models import CancelReason, Order, OrderStatus
from shop.orders.notifications import EmailOutcome, order_email_send
from shop.orders.services import order_transition
from tests.factories import make_product
from tests.orders_helpers import guest_cart, guest_checkout

pytestmark = pytest.mark.django_db


@pytest.fixture
def variant(db):
    return make_product(
        name="Desk Lamp", variants=[{"name": "Brass", "quantity_available": 20}]
    ).variants.get()


@pytest.fixture
def one_per_address(settings):
    settings.ORDER_EMAILS_PER_RECIPIENT = 1


def place(variant, email="ada@example.com") -> Order:
    return guest_checkout(guest_cart((variant, 1)), email=email)


def send(order: Order, kind: str = "confirmation") -> EmailOutcome:
    return order_email_send(order_id=order.pk, kind=kind)


def test_over_the_cap_the_email_is_skipped_for_good(one_per_address, variant, caplog):
    first, second = place(variant), place(variant, email="ADA@example.com")
    assert send(first) == EmailOutcome.SENT
    assert send(second) == EmailOutcome.OVER_RECIPIENT_LIMIT
    # run again (a duplicate delivery): still over, still not sent
    assert send(second) == EmailOutcome.OVER_RECIPIENT_LIMIT
    assert [m.to for m in mail.outbox] == [["ada@example.com"]]
    second.refresh_from_db()
    assert second.confirmation_sent_at is None
    assert second.confirmation_claimed_until is None
    assert second.status == OrderStatus.PENDING_PAYMENT
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [
        f"Order {second.number}: confirmation email not sent, its address had 1 "
        "order emails within 3600 s"
    ] * 2
    assert "ada" not in caplog.text.lower()


def test_a_retried_send_does_not_use_up_the_address(
    one_per_address, variant, monkeypatch
):
    order = place(variant)

    def refuse(self, *args, **kwargs):
        raise ConnectionError("smtp down")

    monkeypatch.setattr("django.core.mail.EmailMessage.send", refuse)
    with pytest.raises(ConnectionError):
        send(order)
    monkeypatch.undo()
    assert send(order) == EmailOutcome.SENT
    assert len(mail.outbox) == 1


def test_cancellations_count_too_payment_emails_do_not(one_per_address, variant):
    # Every unpaid order is canceled when its reservation ends: uncapped, its
    # cancellation would mail the address as freely as the confirmation did.
    order = place(variant)
    assert send(order) == EmailOutcome.SENT
    order_transition(
        order_id=order.pk,
        to_status=OrderStatus.CANCELED,
        cancel_reason=CancelReason.UNPAID,
    )
    assert send(order, "cancellation") == EmailOutcome.OVER_RECIPIENT_LIMIT

    paid = place(variant, email="bob@example.com")
    assert send(paid) == EmailOutcome.SENT
    Order.objects.filter(pk=paid.pk).update(status=OrderStatus.PAID)
    assert send(paid, "payment_received") == EmailOutcome.SENT
    assert [m.to for m in mail.outbox] == [
        ["ada@example.com"],
        ["bob@example.com"],
        ["bob@example.com"],
    ]


def test_the_window_ends(one_per_address, variant, settings):
    settings.ORDER_EMAIL_RECIPIENT_WINDOW_SECONDS = 1
    first, second = place(variant), place(variant)
    assert send(first) == EmailOutcome.SENT
    assert send(second) == EmailOutcome.OVER_RECIPIENT_LIMIT
    time.sleep(1.1)
    assert send(second) == EmailOutcome.SENT


def test_without_redis_the_email_is_sent(one_per_address, variant, monkeypatch):
    class Down:
        def eval(self, *args):
            raise RedisConnectionError("Connection refused")

    monkeypatch.setattr("shop.orders.throttle.get_redis_connection", lambda _: Down())
    first, second = place(variant), place(variant)
    assert send(first) == EmailOutcome.SENT
    assert send(second) == EmailOutcome.SENT
    assert len(mail.outbox) == 2
