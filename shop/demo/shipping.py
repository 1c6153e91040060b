"""The demo's shipping and taxes: a domestic zone (the United Kingdom), an EU zone
and a world zone, each with a standard and an express method (domestic standard is
free from 50.00), and the standard tax rates of GB (20%), DE (19%), UZ (12%) and
the US (0%). Every demo product is in the standard class. Created where missing."""

from decimal import Decimal

from shop.shipping.models import ShippingMethod, ShippingZone
from shop.taxes.models import STANDARD, TaxRate, tax_class

EU = ["AT", "BE", "DE", "DK", "ES", "FI", "FR", "IE", "IT", "NL", "PL", "PT", "SE"]
WORLD = ["AU", "CA", "JP", "NO", "US", "UZ"]

# zone name, countries, methods (name, price, free above, delivery days)
ZONES = (
    (
        "United Kingdom",
        ["GB"],
        (
            ("Standard", "4.99", "50.00", (2, 4)),
            ("Express", "9.99", None, (1, 1)),
        ),
    ),
    (
        "European Union",
        EU,
        (
            ("Standard", "9.99", None, (4, 7)),
            ("Express", "19.99", None, (2, 3)),
        ),
    ),
    (
        "Rest of the world",
        WORLD,
        (
            ("Standard", "14.99", None, (6, 12)),
            ("Express", "29.99", None, (3, 5)),
        ),
    ),
)
STANDARD_RATES = {"GB": "20", "DE": "19", "UZ": "12", "US": "0"}


def demo_shipping_load() -> dict[str, int]:
    """Create the demo's zones, methods and rates where missing; how many of each
    were created."""
    created = {"shipping zones": 0, "shipping methods": 0, "tax rates": 0}
    for name, countries, methods in ZONES:
        zone, new = ShippingZone.objects.get_or_create(
            name=name, defaults={"countries": countries}
        )
        created["shipping zones"] += new
        for method_name, price, free_above, (fastest, slowest) in methods:
            _, new = ShippingMethod.objects.get_or_create(
                zone=zone,
                name=method_name,
                defaults={
                    "price": Decimal(price),
                    "free_above": None if free_above is None else Decimal(free_above),
                    "minimum_delivery_days": fastest,
                    "maximum_delivery_days": slowest,
                },
            )
            created["shipping methods"] += new
    standard = tax_class(STANDARD)
    for country, rate in STANDARD_RATES.items():
        _, new = TaxRate.objects.get_or_create(
            country=country, tax_class=standard, defaults={"rate": Decimal(rate)}
        )
        created["tax rates"] += new
    return created
