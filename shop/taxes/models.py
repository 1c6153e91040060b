"""Tax classes (standard, reduced, zero...) and their rates per country.

A product has a tax class (none: the standard one); its lines are taxed at the
rate of that class in the destination country, and shipping at the destination's
standard rate. A country without a rate for a class taxes it at 0%. Whether
catalog prices include tax is one setting (PRICES_INCLUDE_TAX): see
shop.orders.totals for the arithmetic.
"""

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django_countries.fields import CountryField

STANDARD = "standard"
# The classes every shop starts with (migration 0002; ``tax_class`` makes one again
# where it is missing: staff may delete them, and test flushes do).
CLASS_NAMES = {"standard": "Standard", "reduced": "Reduced", "zero": "Zero"}


class TaxClass(models.Model):
    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=100)

    class Meta:
        ordering = ["name", "id"]
        verbose_name_plural = "tax classes"

    def __str__(self) -> str:
        return self.name


class TaxRate(models.Model):
    country = CountryField()
    tax_class = models.ForeignKey(
        TaxClass, on_delete=models.CASCADE, related_name="rates"
    )
    rate = models.DecimalField(
        max_digits=6,
        decimal_places=3,
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(Decimal(100))],
        help_text="Percent: 20 for 20%.",
    )

    class Meta:
        ordering = ["country", "tax_class__name"]
        constraints = [
            models.UniqueConstraint(
                fields=["country", "tax_class"], name="taxes_one_rate_per_class"
            ),
            models.CheckConstraint(
                condition=models.Q(rate__gte=0, rate__lte=100),
                name="taxes_rate_percent",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.country.code} {self.tax_class}: {self.rate}%"


def tax_class(code: str) -> TaxClass:
    """The tax class ``code``, created (named as CLASS_NAMES says) if missing."""
    found, _ = TaxClass.objects.get_or_create(
        code=code, defaults={"name": CLASS_NAMES.get(code, code.title())}
    )
    return found
