"""Order tasks: ids in, a shop service called, safe to run twice."""

import smtplib

from celery import shared_task

from shop.orders.notifications import order_email_send
from shop.payments.services import orders_expire

TRANSIENT = (smtplib.SMTPException, ConnectionError, TimeoutError)


@shared_task(
    name="workers.tasks.orders.order_confirmation_send",
    autoretry_for=TRANSIENT,
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=8,
)
def order_confirmation_send(order_id: int) -> bool:
    """Email the buyer their order confirmation (once)."""
    return order_email_send(order_id=order_id, kind="confirmation")


@shared_task(
    name="workers.tasks.orders.order_cancellation_send",
    autoretry_for=TRANSIENT,
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=8,
)
def order_cancellation_send(order_id: int) -> bool:
    """Email the buyer that their order was canceled (once)."""
    return order_email_send(order_id=order_id, kind="cancellation")


@shared_task(
    name="workers.tasks.orders.order_payment_received_send",
    autoretry_for=TRANSIENT,
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=8,
)
def order_payment_received_send(order_id: int) -> bool:
    """Email the buyer that their payment arrived (once, while the order is paid)."""
    return order_email_send(order_id=order_id, kind="payment_received")


@shared_task(
    name="workers.tasks.orders.order_refund_send",
    autoretry_for=TRANSIENT,
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=8,
)
def order_refund_send(order_id: int) -> bool:
    """Email the buyer that their payment was refunded (once)."""
    return order_email_send(order_id=order_id, kind="refund")


@shared_task(name="workers.tasks.orders.orders_expire")
def orders_expire_task() -> list[int]:
    """Cancel unpaid orders past their reservation, after closing their open
    payments at Stripe (a completed one pays the order instead)."""
    return orders_expire()
