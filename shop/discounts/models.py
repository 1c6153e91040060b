"""Sales (automatic price cuts) and vouchers (codes a buyer enters).

A **sale** takes a percentage or a fixed amount off the variants it covers: chosen
products, categories (with every category below them) and variants, from
``starts_at`` to ``ends_at`` (either may be empty: no limit). The best running
sale for a variant applies (the lowest price); sales never stack. What the buyer
pays is the variant's ``current_price``; its ``price`` is the regular price
(shop.discounts.sales has the rule, and keeps the catalog's denormalised sale
prices right at every boundary).

A **voucher** is a code (case-insensitive, stored upper-case) taking a percentage
or a fixed amount off the lines it applies to, or making shipping free. It
applies to the whole order unless products or categories are chosen; to lines
already on sale only when ``applies_to_sale_items`` is set (the default: not).
Conditions: a minimum subtotal and a minimum quantity (of the whole cart, at the
prices the buyer pays), a validity window, an active flag, a total usage limit and
a per-customer limit (shop.discounts.vouchers has the rules).
"""

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Upper
from django.utils import timezone

CODE_MAX_LENGTH = 40


class DiscountKind(models.TextChoices):
    PERCENTAGE = "PERCENTAGE", "Percentage off"
    FIXED = "FIXED", "Fixed amount off"


class VoucherKind(models.TextChoices):
    PERCENTAGE = "PERCENTAGE", "Percentage off"
    FIXED = "FIXED", "Fixed amount off"
    FREE_SHIPPING = "FREE_SHIPPING", "Free shipping"


def _value_field(help_text: str) -> models.DecimalField:
    return models.DecimalField(
        max_digits=12,
        decimal_places=2,
        validators=[MinValueValidator(Decimal(0))],
        help_text=help_text,
    )


def _window_constraint(name: str) -> models.CheckConstraint:
    """The end, when both are set, comes after the start."""
    return models.CheckConstraint(
        condition=Q(starts_at__isnull=True)
        | Q(ends_at__isnull=True)
        | Q(ends_at__gt=models.F("starts_at")),
        name=name,
    )


def _window_clean(instance) -> None:
    if (
        instance.starts_at
        and instance.ends_at
        and instance.ends_at <= instance.starts_at
    ):
        raise ValidationError({"ends_at": "The end must come after the start."})


def _value_clean(kind: str, value: Decimal | None) -> None:
    if value is None:
        return
    if kind == DiscountKind.PERCENTAGE and not 0 < value <= 100:
        raise ValidationError({"value": "A percentage is more than 0 and at most 100."})
    if kind == DiscountKind.FIXED and value <= 0:
        raise ValidationError({"value": "An amount off is more than 0."})


class Sale(models.Model):
    name = models.CharField(max_length=200)
    kind = models.CharField(
        max_length=20, choices=DiscountKind.choices, default=DiscountKind.PERCENTAGE
    )
    value = _value_field("Percent (20 for 20%) or the amount off each unit.")
    products = models.ManyToManyField("catalog.Product", blank=True, related_name="+")
    categories = models.ManyToManyField(
        "catalog.Category",
        blank=True,
        related_name="+",
        help_text="Every category below these is included.",
    )
    variants = models.ManyToManyField(
        "catalog.ProductVariant", blank=True, related_name="+"
    )
    starts_at = models.DateTimeField(null=True, blank=True, help_text="Empty: now.")
    ends_at = models.DateTimeField(null=True, blank=True, help_text="Empty: no end.")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind=DiscountKind.FIXED, value__gt=0)
                | Q(kind=DiscountKind.PERCENTAGE, value__gt=0, value__lte=100),
                name="discounts_sale_value",
            ),
            _window_constraint("discounts_sale_window"),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        super().clean()
        _window_clean(self)
        _value_clean(self.kind, self.value)

    def is_running(self, at=None) -> bool:
        at = at or timezone.now()
        return (
            self.is_active
            and (self.starts_at is None or self.starts_at <= at)
            and (self.ends_at is None or at < self.ends_at)
        )


class Voucher(models.Model):
    code = models.CharField(
        max_length=CODE_MAX_LENGTH,
        help_text="What the buyer types; compared without regard to case.",
    )
    name = models.CharField(max_length=200, blank=True, help_text="For staff.")
    kind = models.CharField(
        max_length=20, choices=VoucherKind.choices, default=VoucherKind.PERCENTAGE
    )
    value = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal(0))],
        help_text="Percent (10 for 10%) or the amount off; empty for free shipping.",
    )
    products = models.ManyToManyField(
        "catalog.Product",
        blank=True,
        related_name="+",
        help_text="Empty (and no categories): the whole order.",
    )
    categories = models.ManyToManyField(
        "catalog.Category",
        blank=True,
        related_name="+",
        help_text="Every category below these is included.",
    )
    applies_to_sale_items = models.BooleanField(
        default=False,
        help_text="Also take it off items already on sale (by default it does not).",
    )
    minimum_subtotal = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal(0))],
        help_text="The cart's subtotal (at the prices paid) must reach this.",
    )
    minimum_quantity = models.PositiveIntegerField(
        null=True, blank=True, help_text="Units in the cart, at least."
    )
    usage_limit = models.PositiveIntegerField(
        null=True, blank=True, help_text="Orders in all; empty: no limit."
    )
    per_customer_limit = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Orders per customer (account, or guest email); empty: no limit.",
    )
    used = models.PositiveIntegerField(
        default=0, editable=False, help_text="Orders holding a use now."
    )
    starts_at = models.DateTimeField(null=True, blank=True, help_text="Empty: now.")
    ends_at = models.DateTimeField(null=True, blank=True, help_text="Empty: no end.")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                Upper("code"), name="discounts_voucher_code_unique"
            ),
            models.CheckConstraint(
                condition=Q(kind=VoucherKind.FREE_SHIPPING, value__isnull=True)
                | Q(kind=VoucherKind.FIXED, value__gt=0)
                | Q(kind=VoucherKind.PERCENTAGE, value__gt=0, value__lte=100),
                name="discounts_voucher_value",
            ),
            _window_constraint("discounts_voucher_window"),
        ]

    def __str__(self) -> str:
        return self.code

    def save(self, *args, **kwargs) -> None:
        """Save everything but the use count once the voucher exists: it moves
        only by database arithmetic under the voucher's row lock
        (shop.discounts.vouchers), never by writing back a number read earlier."""
        self.code = normalised_code(self.code)
        if not self._state.adding:
            update_fields = kwargs.get("update_fields")
            if update_fields is None:
                kwargs["update_fields"] = [
                    field.name
                    for field in self._meta.concrete_fields
                    if not field.primary_key and field.name != "used"
                ]
            elif "used" in update_fields:
                raise ValueError("Voucher uses move with shop.discounts.vouchers.")
        super().save(*args, **kwargs)

    def clean(self) -> None:
        super().clean()
        self.code = normalised_code(self.code)
        if not self.code:
            raise ValidationError({"code": "Enter a code."})
        _window_clean(self)
        if self.kind == VoucherKind.FREE_SHIPPING:
            if self.value is not None:
                raise ValidationError({"value": "Free shipping takes no value."})
        elif self.value is None:
            raise ValidationError({"value": "Enter the percentage or the amount."})
        else:
            _value_clean(self.kind, self.value)
        clash = Voucher.objects.filter(code__iexact=self.code).exclude(pk=self.pk)
        if self.code and clash.exists():
            raise ValidationError({"code": "Another voucher has this code."})


def normalised_code(code: str | None) -> str:
    """A code as stored and compared: stripped, upper-case."""
    return (code or "").strip().upper()


class VoucherUse(models.Model):
    """One order holding one use of a voucher. Deleted when the order is canceled
    unpaid (the use goes back); kept once the order is paid, also when refunded."""

    voucher = models.ForeignKey(Voucher, on_delete=models.CASCADE, related_name="uses")
    order = models.OneToOneField(
        "orders.Order", on_delete=models.CASCADE, related_name="voucher_use"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    email = models.EmailField(
        max_length=254, help_text='Lower-cased, without a "+tag".'
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["voucher", "email"], name="discounts_use_email"),
            models.Index(fields=["voucher", "user"], name="discounts_use_user"),
        ]

    def __str__(self) -> str:
        return f"{self.voucher} on order {self.order_id}"


class SalesApplied(models.Model):
    """One row: when the catalog's sale prices were last made right
    (shop.discounts.sales.sales_apply). A sale boundary after it is not applied
    yet."""

    applied_at = models.DateTimeField()

    class Meta:
        verbose_name = "sale prices applied"
        verbose_name_plural = "sale prices applied"

    def __str__(self) -> str:
        return f"Sale prices as of {self.applied_at:%Y-%m-%d %H:%M:%S}"
