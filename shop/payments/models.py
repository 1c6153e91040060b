from django.db import models
from django.db.models import Q


class PaymentKind(models.TextChoices):
    CHECKOUT_SESSION = "CHECKOUT_SESSION", "Checkout Session (hosted page)"
    PAYMENT_INTENT = "PAYMENT_INTENT", "PaymentIntent (Stripe Elements)"


class PaymentStatus(models.TextChoices):
    """Where the payment is at Stripe."""

    CREATING = "CREATING", "Creating (Stripe's answer not received)"
    OPEN = "OPEN", "Open (awaiting the buyer)"
    PROCESSING = "PROCESSING", "Processing (money on its way)"
    SUCCEEDED = "SUCCEEDED", "Succeeded"
    FAILED = "FAILED", "Failed"
    EXPIRED = "EXPIRED", "Expired"
    CANCELED = "CANCELED", "Canceled"
    REFUNDED = "REFUNDED", "Refunded"


# A payment that can still take money, or is taking it.
LIVE_STATUSES = (PaymentStatus.CREATING, PaymentStatus.OPEN, PaymentStatus.PROCESSING)


class Payment(models.Model):
    """One attempt to pay an order through Stripe: a Checkout Session or a
    PaymentIntent. Amounts are integers in the currency's minor unit, as Stripe
    counts them.

    ``settles_order`` marks the payment that made its order PAID. Money received
    that did not (an amount mismatch, a second payment, a payment after the order
    was canceled) is flagged ``needs_attention`` for staff.
    """

    order = models.ForeignKey(
        "orders.Order", on_delete=models.PROTECT, related_name="payments"
    )
    kind = models.CharField(max_length=20, choices=PaymentKind.choices)
    status = models.CharField(
        max_length=20, choices=PaymentStatus.choices, default=PaymentStatus.CREATING
    )
    amount = models.PositiveBigIntegerField(help_text="Asked for, in minor units.")
    currency = models.CharField(max_length=3, help_text="Lower-case ISO 4217.")
    amount_received = models.PositiveBigIntegerField(
        default=0, help_text="Captured by Stripe, in minor units."
    )
    amount_refunded = models.PositiveBigIntegerField(
        default=0,
        help_text="Given back, in minor units: refunds Stripe reports as succeeded.",
    )
    amount_refund_pending = models.PositiveBigIntegerField(
        default=0,
        help_text="Refunds asked for and not completed at Stripe yet, in minor units.",
    )
    settles_order = models.BooleanField(
        default=False, help_text="This payment is what made the order PAID."
    )
    idempotency_key = models.CharField(max_length=100, unique=True, editable=False)
    stripe_checkout_session_id = models.CharField(
        "Checkout Session id", max_length=255, unique=True, null=True, blank=True
    )
    stripe_payment_intent_id = models.CharField(
        "PaymentIntent id", max_length=255, unique=True, null=True, blank=True
    )
    checkout_url = models.URLField(max_length=2048, blank=True)
    client_secret = models.CharField(max_length=255, blank=True)
    success_url = models.URLField(max_length=2048, blank=True)
    cancel_url = models.URLField(max_length=2048, blank=True)
    expires_at = models.DateTimeField(
        null=True, blank=True, help_text="When the Checkout Session stops taking money."
    )
    failure_message = models.TextField(blank=True)
    refund_requested_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the shop decided to give this payment back.",
    )
    needs_attention = models.BooleanField(default=False)
    attention_note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gt=0), name="payments_amount_positive"
            ),
            # At most one attempt of each kind in flight per order: asking again
            # returns it instead of making another.
            models.UniqueConstraint(
                fields=["order", "kind"],
                condition=Q(status__in=["CREATING", "OPEN"]),
                name="payments_one_open_per_order_and_kind",
            ),
        ]
        indexes = [
            models.Index(fields=["order", "status"], name="payments_order_status"),
            models.Index(
                fields=["needs_attention", "-created_at"], name="payments_attention"
            ),
        ]

    def __str__(self) -> str:
        return (
            self.stripe_checkout_session_id
            or self.stripe_payment_intent_id
            or f"payment {self.pk}"
        )


class RefundStatus(models.TextChoices):
    """Where a refund is at Stripe. Only SUCCEEDED means the money went back."""

    PENDING = "PENDING", "Pending (the money is not back yet)"
    REQUIRES_ACTION = "REQUIRES_ACTION", "Requires action (the money is not back yet)"
    SUCCEEDED = "SUCCEEDED", "Succeeded (the money is back)"
    FAILED = "FAILED", "Failed (the money did NOT go back)"
    CANCELED = "CANCELED", "Canceled (the money did NOT go back)"


# Stripe's refund statuses; anything new is taken as still on its way.
STRIPE_REFUND_STATUSES = {
    "pending": RefundStatus.PENDING,
    "requires_action": RefundStatus.REQUIRES_ACTION,
    "succeeded": RefundStatus.SUCCEEDED,
    "failed": RefundStatus.FAILED,
    "canceled": RefundStatus.CANCELED,
}
REFUND_ON_ITS_WAY = (RefundStatus.PENDING, RefundStatus.REQUIRES_ACTION)
REFUND_NOT_DONE = (RefundStatus.FAILED, RefundStatus.CANCELED)


class Refund(models.Model):
    """One refund of a payment at Stripe, as Stripe last reported it (the shop's
    own refunds and those made in Stripe's dashboard alike). A payment's
    ``amount_refunded`` is the sum of its SUCCEEDED refunds."""

    payment = models.ForeignKey(
        Payment, on_delete=models.PROTECT, related_name="refunds"
    )
    stripe_refund_id = models.CharField("refund id", max_length=255, unique=True)
    amount = models.PositiveBigIntegerField(help_text="In minor units.")
    currency = models.CharField(max_length=3, help_text="Lower-case ISO 4217.")
    status = models.CharField(
        max_length=20, choices=RefundStatus.choices, default=RefundStatus.PENDING
    )
    failure_reason = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.stripe_refund_id


class StripeEventOutcome(models.TextChoices):
    PROCESSED = "PROCESSED", "Processed"
    FLAGGED = "FLAGGED", "Processed, flagged for staff"
    UNMATCHED = "UNMATCHED", "No payment or order of ours"
    IGNORED = "IGNORED", "Type not handled"


class StripeEvent(models.Model):
    """The ledger of webhook events: each Stripe event id is recorded once, in the
    same transaction as its processing, so an event is processed exactly once."""

    stripe_id = models.CharField("event id", max_length=255, unique=True)
    type = models.CharField(max_length=100)
    object_id = models.CharField(
        max_length=255, blank=True, help_text="The id of the event's object."
    )
    livemode = models.BooleanField(default=False)
    api_version = models.CharField(max_length=40, blank=True)
    stripe_created = models.DateTimeField(
        null=True, blank=True, help_text="When Stripe created the event."
    )
    payload = models.JSONField()
    outcome = models.CharField(max_length=20, choices=StripeEventOutcome.choices)
    note = models.TextField(blank=True)
    payment = models.ForeignKey(
        Payment,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="events",
    )
    order = models.ForeignKey(
        "orders.Order",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="stripe_events",
    )
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [
            models.Index(fields=["type", "-received_at"], name="payments_event_type"),
            models.Index(fields=["object_id"], name="payments_event_object"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.stripe_id}"
