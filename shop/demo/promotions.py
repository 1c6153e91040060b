"""The demo's promotions: a sale running now and a welcome voucher."""

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from shop.discounts.models import DiscountKind, Sale, Voucher, VoucherKind
from shop.discounts.sales import sales_apply

SALE_NAME = "Winter sale: 20% off hoodies"
SALE_CATEGORY = "hoodies"
WELCOME_CODE = "WELCOME10"


def demo_promotions_load() -> dict[str, int]:
    """Create the demo sale (20% off the hoodies category, for 30 days from now)
    and the voucher WELCOME10 (10% off the whole order, sale items included, no
    minimum, no total limit, once per customer) where missing, then apply the
    sales to the catalog; how many of each were created."""
    from shop.catalog.models import Category

    created = {"sales": 0, "vouchers": 0}
    category = Category.objects.filter(slug=SALE_CATEGORY).first()
    if category is not None and not Sale.objects.filter(name=SALE_NAME).exists():
        sale = Sale.objects.create(
            name=SALE_NAME,
            kind=DiscountKind.PERCENTAGE,
            value=Decimal(20),
            ends_at=timezone.now() + timedelta(days=30),
        )
        sale.categories.add(category)
        created["sales"] += 1
    _, new = Voucher.objects.get_or_create(
        code=WELCOME_CODE,
        defaults={
            "name": "Welcome: 10% off the first order",
            "kind": VoucherKind.PERCENTAGE,
            "value": Decimal(10),
            "applies_to_sale_items": True,
            "per_customer_limit": 1,
        },
    )
    created["vouchers"] += new
    sales_apply()
    return created
