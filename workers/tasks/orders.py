"""Order tasks: ids in, a shop service called, safe to run twice."""

import smtplib

from celery import Task, shared_task

from shop.orders.notifications import OrderEmailClaimed, order_email_send
from shop.payments.services import orders_expire

TRANSIENT = (smtplib.SMTPException, ConnectionError, TimeoutError)


def _email(task: Task, order_id: int, kind: str) -> str:
    try:
        return order_email_send(order_id=order_id, kind=kind)
    except OrderEmailClaimed as claimed:
        # Held by another run, or by a worker that died mid-send: neither sent nor
        # lost, so come back when the lease ends instead of dropping the task.
        raise task.retry(countdown=claimed.seconds_left) from None


@shared_task(
    name="workers.tasks.orders.order_confirmation_send",
    autoretry_for=TRANSIENT,
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=8,
    bind=True,
)
def order_confirmation_send(self: Task, order_id: int) -> str:
    """Email the buyer their order confirmation (once)."""
    return _email(self, order_id, "confirmation")


@shared_task(
    name="workers.tasks.orders.order_cancellation_send",
    autoretry_for=TRANSIENT,
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=8,
    bind=True,
)
def order_cancellation_send(self: Task, order_id: int) -> str:
    """Email the buyer that their order was canceled (once)."""
    return _email(self, order_id, "cancellation")


@shared_task(
    name="workers.tasks.orders.order_payment_received_send",
    autoretry_for=TRANSIENT,
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=8,
    bind=True,
)
def order_payment_received_send(self: Task, order_id: int) -> str:
    """Email the buyer that their payment arrived (once, while the order is paid)."""
    return _email(self, order_id, "payment_received")


@shared_task(
    name="workers.tasks.orders.order_refund_send",
    autoretry_for=TRANSIENT,
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=8,
    bind=True,
)
def order_refund_send(self: Task, order_id: int) -> str:
    """Email the buyer that their payment was refunded (once)."""
    return _email(self, order_id, "refund")


@shared_task(name="workers.tasks.orders.orders_expire")
def orders_expire_task() -> list[int]:
    """Cancel unpaid orders past their reservation, after closing their open
    payments at Stripe (a completed one pays the order instead)."""
    return orders_expire()
