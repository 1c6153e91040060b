"""Payment tasks: ids in, a shop service called, safe to run twice."""

from celery import shared_task

from shop.payments.errors import PaymentError
from shop.payments.services import (
    TRANSIENT_STRIPE_ERRORS,
    order_payments_close,
    payment_refund,
    payment_refunds_sync,
)


@shared_task(
    name="workers.tasks.payments.payment_refund",
    autoretry_for=TRANSIENT_STRIPE_ERRORS,
    retry_backoff=True,
    retry_backoff_max=900,
    max_retries=12,
)
def payment_refund_task(payment_id: int) -> bool:
    """Give back a payment the shop decided to refund (late or second payment)."""
    return payment_refund(payment_id=payment_id)


@shared_task(
    name="workers.tasks.payments.order_payments_close",
    autoretry_for=(PaymentError,),
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=10,
)
def order_payments_close_task(order_id: int) -> int:
    """Close at Stripe the payments still open of an order canceled or paid."""
    return order_payments_close(order_id=order_id)


@shared_task(
    name="workers.tasks.payments.payment_refunds_sync",
    autoretry_for=TRANSIENT_STRIPE_ERRORS,
    retry_backoff=True,
    retry_backoff_max=900,
    max_retries=12,
)
def payment_refunds_sync_task(payment_id: int) -> int:
    """Record a payment's refunds as Stripe has them now."""
    return payment_refunds_sync(payment_id=payment_id)
