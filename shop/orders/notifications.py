"""Order emails: a plain-text and an HTML body through Django's email backend.

An email is sent at least once, and twice only if its worker dies after the mail
server accepted it and before ``<kind>_sent_at`` was written. A run claims the email
with a lease (``<kind>_claimed_until``, ORDER_EMAIL_LEASE_SECONDS), sends it, then
writes ``<kind>_sent_at``. A run that finds a live lease raises ``OrderEmailClaimed``
(the task comes back when the lease ends); a run that finds an ended one, left by a
worker that died mid-send, claims the email again.
"""

import logging
import math
from datetime import datetime, timedelta
from enum import StrEnum

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone

from shop.orders.models import Order, OrderStatus
from shop.orders.throttle import order_email_recipient_allowed

logger = logging.getLogger(__name__)

EMAILS = {
    "confirmation": "Your order {number} is confirmed",
    "cancellation": "Your order {number} was canceled",
    "payment_received": "We received your payment for order {number}",
    "refund": "Your payment for order {number} was refunded",
}
# An email that is only true while the order is in one of these statuses: a
# "payment received" that would arrive after the refund is not sent.
STILL_TRUE = {
    "payment_received": (OrderStatus.PAID, OrderStatus.FULFILLED),
    "refund": (OrderStatus.REFUNDED,),
}
# The emails anyone can have sent to any address by placing (unpaid) orders, capped
# per address; the others follow a payment.
RECIPIENT_LIMITED = ("confirmation", "cancellation")


class EmailOutcome(StrEnum):
    """What a run of ``order_email_send`` did."""

    SENT = "sent"
    ALREADY_SENT = "already_sent"
    # The order left the statuses the email speaks of (or no longer exists).
    NO_LONGER_TRUE = "no_longer_true"
    # Skipped for good: the address had ORDER_EMAILS_PER_RECIPIENT in the window.
    OVER_RECIPIENT_LIMIT = "over_recipient_limit"


class OrderEmailClaimed(Exception):
    """Another run holds the email until ``until``: it is neither sent nor lost."""

    def __init__(self, until: datetime) -> None:
        super().__init__(f"claimed until {until.isoformat()}")
        self.until = until

    @property
    def seconds_left(self) -> int:
        """Seconds until the lease ends (at least one)."""
        return max(1, math.ceil((self.until - timezone.now()).total_seconds()))


def _claim(order_id: int, kind: str) -> datetime | EmailOutcome:
    """Take the lease on the email: its end, or why there is nothing to send."""
    sent_field, lease_field = f"{kind}_sent_at", f"{kind}_claimed_until"
    now = timezone.now()
    lease = now + timedelta(seconds=settings.ORDER_EMAIL_LEASE_SECONDS)
    claimable = Order.objects.filter(
        Q(**{f"{lease_field}__isnull": True}) | Q(**{f"{lease_field}__lte": now}),
        pk=order_id,
        **{f"{sent_field}__isnull": True},
    )
    if kind in STILL_TRUE:
        claimable = claimable.filter(status__in=STILL_TRUE[kind])
    if claimable.update(**{lease_field: lease}):
        return lease
    state = (
        Order.objects.filter(pk=order_id)
        .values("status", sent_field, lease_field)
        .first()
    )
    if state is None:
        return EmailOutcome.NO_LONGER_TRUE
    if state[sent_field] is not None:
        return EmailOutcome.ALREADY_SENT
    if kind in STILL_TRUE and state["status"] not in STILL_TRUE[kind]:
        return EmailOutcome.NO_LONGER_TRUE
    # A live lease; or one that ended between the two queries: come back in a second.
    raise OrderEmailClaimed(max(state[lease_field] or now, now))


def _message(order: Order, kind: str) -> EmailMultiAlternatives:
    context = {
        "order": order,
        "lines": list(order.lines.all()),
        "was_canceled": order.cancellation_sent_at is not None,
        # Who canceled the order a refund follows: their words differ.
        "canceled_by": order.cancel_reason
        or ("UNKNOWN" if order.cancellation_sent_at else ""),
    }
    if kind == "cancellation":
        # A bank debit cannot be stopped: its money will come, and go back.
        context["payment_on_its_way"] = order.payments.filter(
            status="PROCESSING"
        ).exists()
    message = EmailMultiAlternatives(
        subject=EMAILS[kind].format(number=order.number),
        body=render_to_string(f"orders/email/{kind}.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[order.email],
    )
    message.attach_alternative(
        render_to_string(f"orders/email/{kind}.html", context), "text/html"
    )
    return message


def order_email_send(*, order_id: int, kind: str) -> EmailOutcome:
    """Send the ``kind`` email of an order unless it was sent (see the module).

    Raises ``OrderEmailClaimed`` while another run's lease holds the email. A failed
    send gives the lease back, for the retry, and raises.
    """
    lease_field = f"{kind}_claimed_until"
    lease = _claim(order_id, kind)
    if isinstance(lease, EmailOutcome):
        return lease
    ours = Order.objects.filter(pk=order_id, **{lease_field: lease})
    try:
        order = Order.objects.prefetch_related("lines").get(pk=order_id)
        if kind in RECIPIENT_LIMITED and not order_email_recipient_allowed(
            email=order.email, order_id=order.pk, kind=kind
        ):
            # Skipped for good: the task ends here, the order stays placed.
            logger.warning(
                "Order %s: %s email not sent, its address had %s order emails "
                "within %s s",
                order.number,
                kind,
                settings.ORDER_EMAILS_PER_RECIPIENT,
                settings.ORDER_EMAIL_RECIPIENT_WINDOW_SECONDS,
            )
            ours.update(**{lease_field: None})
            return EmailOutcome.OVER_RECIPIENT_LIMIT
        _message(order, kind).send()
    except Exception:
        ours.update(**{lease_field: None})
        raise
    # Sent: a crash from here to the write below is the one way to send it twice.
    Order.objects.filter(pk=order_id).update(
        **{f"{kind}_sent_at": timezone.now(), lease_field: None}
    )
    return EmailOutcome.SENT
