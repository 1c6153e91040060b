"""Shipping zones (sets of countries) and the methods that ship to them.

A method ships a cart to an address when its zone holds the address's country, it
is active, and the cart meets its conditions: a subtotal (after discounts) within
its minimum and maximum, a weight (its variants' weights times quantities; a
variant without a weight weighs nothing) under its maximum. Its price is 0 when
the subtotal after discounts reaches its free-above threshold.
"""

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django_countries.fields import CountryField


class ShippingZone(models.Model):
    name = models.CharField(max_length=100)
    countries = CountryField(multiple=True, blank=False)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


def _money(**kwargs) -> models.DecimalField:
    return models.DecimalField(
        max_digits=12,
        decimal_places=2,
        validators=[MinValueValidator(0)],
        **kwargs,
    )


class ShippingMethod(models.Model):
    zone = models.ForeignKey(
        ShippingZone, on_delete=models.CASCADE, related_name="methods"
    )
    name = models.CharField(max_length=100, help_text="What the buyer sees.")
    price = _money()
    free_above = _money(
        null=True,
        blank=True,
        help_text="Free when the subtotal after discounts reaches this.",
    )
    minimum_subtotal = _money(null=True, blank=True)
    maximum_subtotal = _money(null=True, blank=True)
    maximum_weight_grams = models.PositiveIntegerField(null=True, blank=True)
    minimum_delivery_days = models.PositiveSmallIntegerField(null=True, blank=True)
    maximum_delivery_days = models.PositiveSmallIntegerField(null=True, blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["price", "name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(price__gte=0), name="shipping_method_price_positive"
            ),
            models.CheckConstraint(
                condition=Q(minimum_subtotal__isnull=True)
                | Q(maximum_subtotal__isnull=True)
                | Q(minimum_subtotal__lte=models.F("maximum_subtotal")),
                name="shipping_method_subtotal_range",
            ),
            models.CheckConstraint(
                condition=Q(minimum_delivery_days__isnull=True)
                | Q(maximum_delivery_days__isnull=True)
                | Q(minimum_delivery_days__lte=models.F("maximum_delivery_days")),
                name="shipping_method_delivery_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.zone})"

    def clean(self) -> None:
        if (
            self.minimum_subtotal is not None
            and self.maximum_subtotal is not None
            and self.minimum_subtotal > self.maximum_subtotal
        ):
            raise ValidationError(
                {"maximum_subtotal": "Must not be under the minimum subtotal."}
            )
        if (
            self.minimum_delivery_days is not None
            and self.maximum_delivery_days is not None
            and self.minimum_delivery_days > self.maximum_delivery_days
        ):
            raise ValidationError(
                {"maximum_delivery_days": "Must not be under the minimum."}
            )
