"""Sale boundaries through a real Celery worker: the periodic check schedules a
task at the boundary's moment, and the catalog's prices change then."""

import time
from datetime import timedelta
from decimal import Decimal

import pytest
from celery.contrib.testing.worker import start_worker
from django.utils import timezone

from shop.catalog.models import ProductVariant
from shop.discounts.models import Sale
from shop.discounts.sales import sales_apply
from tests.factories import make_product
from workers import app
from workers.tasks.discounts import sales_check

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_sale_starts_on_the_catalog_at_its_moment():
    variant = make_product(variants=[{"price": "10.00"}]).variants.get()
    starts = timezone.now() + timedelta(seconds=3)
    sale = Sale.objects.create(name="Soon", value=Decimal(30), starts_at=starts)
    sale.products.add(variant.product)
    sales_apply()  # what saving it in the admin does: nothing changes yet

    def price() -> Decimal:
        return ProductVariant.objects.get(pk=variant.pk).current_price

    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        sales_check.delay()  # what beat sends every SALES_CHECK_SECONDS
        changed_at = None
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if price() != Decimal("10.00"):
                changed_at = timezone.now()
                break
            time.sleep(0.05)
    assert changed_at is not None, "the boundary was never applied"
    assert price() == Decimal("7.00")
    # at the boundary, not before it and not a beat period later
    assert starts <= changed_at < starts + timedelta(seconds=1.5)
