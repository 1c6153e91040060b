import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models, transaction
from django.db.models import ProtectedError, Q
from django.utils import timezone

# Crockford's base32 without look-alikes: order numbers are read over the phone.
NUMBER_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_order_number() -> str:
    """A human-readable order number such as "7K2Q-M9XD" (40 random bits)."""
    code = "".join(secrets.choice(NUMBER_ALPHABET) for _ in range(8))
    return f"{code[:4]}-{code[4:]}"


def new_order_token() -> str:
    """The secret that lets a guest read and follow their order."""
    return secrets.token_urlsafe(32)


def reservation_end() -> datetime:
    """When a new order's stock reservation ends, unless a payment extends it."""
    return timezone.now() + timedelta(minutes=settings.ORDER_RESERVATION_MINUTES)


class OrderStatus(models.TextChoices):
    PENDING_PAYMENT = "PENDING_PAYMENT", "Pending payment"
    PAID = "PAID", "Paid"
    FULFILLED = "FULFILLED", "Fulfilled"
    CANCELED = "CANCELED", "Canceled"
    REFUNDED = "REFUNDED", "Refunded"


class CancelReason(models.TextChoices):
    """Who or what canceled an order; decides what money arriving later does."""

    BUYER = "BUYER", "Canceled by the buyer"
    STAFF = "STAFF", "Canceled by staff"
    UNPAID = "UNPAID", "Not paid in time (reservation or payment ended)"


# Only an order the shop canceled for want of payment is filled after all when its
# money arrives late (stock permitting). A cancellation by the buyer or by staff is
# a decision: money arriving after it is refunded. So is one of an order canceled
# before reasons were recorded (blank): refunding is never wrong, shipping goods
# nobody wants any more is.
REVIVABLE_CANCEL_REASONS = (CancelReason.UNPAID,)


# Orders in progress: awaiting payment (holding reserved stock) or paid and owed
# to the buyer. They are canceled through order_transition, never deleted.
OPEN_STATUSES = (OrderStatus.PENDING_PAYMENT, OrderStatus.PAID)


def _refuse_deleting_open(orders: models.QuerySet) -> None:
    open_orders = list(orders.filter(status__in=OPEN_STATUSES))
    if open_orders:
        numbers = ", ".join(order.number for order in open_orders[:5])
        raise ProtectedError(
            f"Orders in progress are not deleted ({numbers}): cancel them with "
            "order_transition, which gives their stock back.",
            set(open_orders),
        )


class OrderQuerySet(models.QuerySet):
    def delete(self):
        with transaction.atomic():
            _refuse_deleting_open(self.select_for_update())
            return super().delete()


class Order(models.Model):
    """A placed order: what was bought, at which prices, by whom, and its status.

    Change ``status`` only through ``shop.orders.services.order_transition``.
    """

    number = models.CharField(max_length=16, unique=True, default=new_order_number)
    token = models.CharField(
        max_length=64, unique=True, default=new_order_token, editable=False
    )
    status = models.CharField(
        max_length=20,
        choices=OrderStatus.choices,
        default=OrderStatus.PENDING_PAYMENT,
    )
    cancel_reason = models.CharField(
        max_length=10,
        choices=CancelReason.choices,
        blank=True,
        default="",
        editable=False,
        help_text="Who or what canceled the order (blank: not canceled, or canceled "
        "before reasons were recorded).",
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="orders",
        help_text="Empty for a guest's order.",
    )
    email = models.EmailField(max_length=254)
    # Who placed it, for idempotency: "user:<id>" or "guest:<cart token>".
    buyer_key = models.CharField(max_length=80, editable=False)
    idempotency_key = models.CharField(max_length=100, blank=True, default="")
    # The state of the cart it was placed from: one cart state, one order at most
    # (a double-clicked checkout without an idempotency key returns this one).
    cart_revision = models.CharField(
        max_length=32, blank=True, default="", editable=False
    )

    shipping_name = models.CharField(max_length=200)
    shipping_line1 = models.CharField(max_length=200)
    shipping_line2 = models.CharField(max_length=200, blank=True)
    shipping_city = models.CharField(max_length=100)
    shipping_postal_code = models.CharField(max_length=20)
    shipping_country = models.CharField(max_length=2, help_text="ISO 3166-1 alpha-2.")

    # The money as charged, copied at checkout (shop.orders.totals): it never
    # changes when prices, rates or shipping methods change later.
    currency = models.CharField(max_length=3)
    subtotal = models.DecimalField(max_digits=12, decimal_places=2)
    discount = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    shipping_price = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    shipping_method_name = models.CharField(max_length=100, blank=True, default="")
    voucher_code = models.CharField(
        max_length=40, blank=True, default="", help_text="The voucher used, if any."
    )
    tax = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    prices_include_tax = models.BooleanField(
        default=True, help_text="Whether the tax is inside the prices or added."
    )
    total = models.DecimalField(max_digits=12, decimal_places=2)

    reserved_until = models.DateTimeField(
        default=reservation_end,
        help_text="An unpaid order holds its stock until then; a Checkout Session "
        "extends it to its own expiry.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    confirmation_sent_at = models.DateTimeField(null=True, blank=True, editable=False)
    cancellation_sent_at = models.DateTimeField(null=True, blank=True, editable=False)
    payment_received_sent_at = models.DateTimeField(
        null=True, blank=True, editable=False
    )
    refund_sent_at = models.DateTimeField(null=True, blank=True, editable=False)
    # A worker sending one of these emails holds it until then: a worker that dies
    # mid-send leaves the email to the next run once the lease is over.
    confirmation_claimed_until = models.DateTimeField(
        null=True, blank=True, editable=False
    )
    cancellation_claimed_until = models.DateTimeField(
        null=True, blank=True, editable=False
    )
    payment_received_claimed_until = models.DateTimeField(
        null=True, blank=True, editable=False
    )
    refund_claimed_until = models.DateTimeField(null=True, blank=True, editable=False)

    objects = OrderQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["buyer_key", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="orders_order_idempotent_per_buyer",
            ),
            models.UniqueConstraint(
                fields=["buyer_key", "cart_revision"],
                condition=~Q(cart_revision=""),
                name="orders_order_one_per_cart_revision",
            ),
            models.CheckConstraint(
                condition=Q(total__gte=0) & Q(subtotal__gte=0),
                name="orders_order_amounts_not_negative",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "created_at"], name="orders_status_created"),
            models.Index(
                fields=["status", "reserved_until"], name="orders_status_reserved"
            ),
            models.Index(fields=["user", "-created_at"], name="orders_user_created"),
            models.Index(fields=["email"], name="orders_email"),
        ]

    def __str__(self) -> str:
        return self.number

    def delete(self, *args, **kwargs):
        """Refused (ProtectedError) while the order is in progress."""
        with transaction.atomic():
            _refuse_deleting_open(Order.objects.select_for_update().filter(pk=self.pk))
            return super().delete(*args, **kwargs)


class OrderLine(models.Model):
    """One bought item, with the names and price copied at the time of purchase."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    variant = models.ForeignKey(
        "catalog.ProductVariant",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="order_lines",
    )
    sku = models.CharField("SKU", max_length=64)
    product_name = models.CharField(max_length=250)
    variant_name = models.CharField(max_length=250, blank=True)
    quantity = models.PositiveIntegerField()
    unit_price = models.DecimalField(max_digits=12, decimal_places=2)
    discount = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    tax_rate = models.DecimalField(
        max_digits=6, decimal_places=3, default=0, help_text="Percent."
    )
    tax_amount = models.DecimalField(max_digits=12, decimal_places=2, default=0)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gt=0), name="orders_line_quantity_positive"
            ),
            models.CheckConstraint(
                condition=Q(unit_price__gte=0), name="orders_line_price_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.sku}"

    @property
    def total(self):
        return self.unit_price * self.quantity
