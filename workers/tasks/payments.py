"""Payment tasks: ids in, a shop service called, safe to run twice."""

from celery import shared_task

from shop.payments.services import TRANSIENT_STRIPE_ERRORS, payment_refund


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
