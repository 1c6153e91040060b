"""Order emails: a plain-text and an HTML body through Django's email backend."""

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils import timezone

from shop.orders.models import Order, OrderStatus

EMAILS = {
    "confirmation": ("confirmation_sent_at", "Your order {number} is confirmed"),
    "cancellation": ("cancellation_sent_at", "Your order {number} was canceled"),
    "payment_received": (
        "payment_received_sent_at",
        "We received your payment for order {number}",
    ),
    "refund": ("refund_sent_at", "Your payment for order {number} was refunded"),
}
# An email that is only true while the order is in one of these statuses: a
# "payment received" that would arrive after the refund is not sent.
STILL_TRUE = {
    "payment_received": (OrderStatus.PAID, OrderStatus.FULFILLED),
    "refund": (OrderStatus.REFUNDED,),
}


def order_email_send(*, order_id: int, kind: str) -> bool:
    """Send the ``kind`` email of an order once; False if it was already sent.

    The order is claimed with a conditional UPDATE first, so two runs of the task
    send one email; if sending fails the claim is released for the retry.
    """
    sent_field, subject = EMAILS[kind]
    claimed = Order.objects.filter(pk=order_id, **{f"{sent_field}__isnull": True})
    if kind in STILL_TRUE:
        claimed = claimed.filter(status__in=STILL_TRUE[kind])
    if not claimed.update(**{sent_field: timezone.now()}):
        return False
    try:
        order = Order.objects.prefetch_related("lines").get(pk=order_id)
        context = {
            "order": order,
            "lines": list(order.lines.all()),
            "was_canceled": order.cancellation_sent_at is not None,
        }
        message = EmailMultiAlternatives(
            subject=subject.format(number=order.number),
            body=render_to_string(f"orders/email/{kind}.txt", context),
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[order.email],
        )
        message.attach_alternative(
            render_to_string(f"orders/email/{kind}.html", context), "text/html"
        )
        message.send()
    except Exception:
        Order.objects.filter(pk=order_id).update(**{sent_field: None})
        raise
    return True
