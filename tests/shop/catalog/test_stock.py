"""Stock changes only by adjustment, under the row lock; staff adjustments are
recorded; no admin page writes back the stock it showed."""

import pytest
from django.urls import reverse

from shop.catalog.errors import CatalogError
from shop.catalog.models import ProductVariant, StockAdjustment
from shop.catalog.stock import stock_adjust, stock_change
from tests.admin_helpers import admin_errors, form_data
from tests.concurrency import race
from tests.factories import UserFactory, make_product
from tests.orders_helpers import guest_cart, guest_checkout


def stock(variant) -> int:
    return ProductVariant.objects.get(pk=variant.pk).quantity_available


def buyer_takes(variant, quantity: int) -> None:
    guest_checkout(guest_cart((variant, quantity)))


@pytest.fixture
def variant(db):
    return make_product(
        name="Lamp",
        variants=[{"sku": "LAMP", "price": "20.00", "quantity_available": 5}],
    ).variants.get()


# ---------------------------------------------------------------- the admin


def test_a_price_change_on_a_variant_opened_before_a_sale_keeps_the_sale(
    admin_client, variant
):
    url = reverse("admin:catalog_productvariant_change", args=[variant.pk])
    opened = form_data(admin_client, url)  # the page shows 5 in stock
    buyer_takes(variant, 3)

    response = admin_client.post(
        url,
        opened
        | {
            "price": "24.00",
            # What the page held before stock became an adjustment: ignored.
            "quantity_available": "5",
        },
    )

    assert response.status_code == 302, admin_errors(response)
    variant.refresh_from_db()
    assert (variant.price, variant.quantity_available) == (24, 2)
    assert not StockAdjustment.objects.exists()


def test_editing_a_products_description_keeps_sales_made_since_the_page_opened(
    admin_client, variant
):
    url = reverse("admin:catalog_product_change", args=[variant.product_id])
    opened = form_data(admin_client, url)
    buyer_takes(variant, 3)

    response = admin_client.post(
        url,
        opened | {"description": "Now brighter.", "variants-0-quantity_available": "5"},
    )

    assert response.status_code == 302, admin_errors(response)
    assert stock(variant) == 2
    assert variant.product.__class__.objects.get().description == "Now brighter."


def test_staff_adjust_stock_on_the_variant_page_and_the_change_is_recorded(
    admin_client, variant
):
    url = reverse("admin:catalog_productvariant_change", args=[variant.pk])
    opened = form_data(admin_client, url)
    buyer_takes(variant, 3)

    received = opened | {"stock_delta": "10", "stock_reason": "RECEIVED"}
    assert admin_client.post(url, received).status_code == 302
    damaged = form_data(admin_client, url) | {
        "stock_delta": "-2",
        "stock_reason": "DAMAGED",
        "stock_note": "Dropped in the warehouse",
    }
    assert admin_client.post(url, damaged).status_code == 302

    assert stock(variant) == 5 - 3 + 10 - 2
    records = list(
        StockAdjustment.objects.order_by("id").values_list(
            "sku", "delta", "quantity_after", "reason", "note", "staff_email"
        )
    )
    assert records == [
        ("LAMP", 10, 12, "RECEIVED", "", "boss@example.com"),
        ("LAMP", -2, 10, "DAMAGED", "Dropped in the warehouse", "boss@example.com"),
    ]
    history = admin_client.get(reverse("admin:catalog_stockadjustment_changelist"))
    assert "Dropped in the warehouse" in history.content.decode()


def test_staff_adjust_stock_in_the_products_variant_rows(admin_client, variant):
    url = reverse("admin:catalog_product_change", args=[variant.product_id])
    data = form_data(admin_client, url) | {
        "variants-0-stock_delta": "4",
        "variants-0-stock_reason": "RETURNED",
    }
    assert admin_client.post(url, data).status_code == 302
    assert stock(variant) == 9
    assert StockAdjustment.objects.get().reason == "RETURNED"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"stock_delta": "-6", "stock_reason": "LOST"}, "Only 5 in stock"),
        ({"stock_delta": "3"}, "Say why the stock changes."),
        (
            {"stock_delta": "3", "stock_reason": "OTHER"},
            "Say in the note why the stock changes.",
        ),
    ],
)
def test_a_refused_adjustment_changes_nothing(admin_client, variant, change, message):
    url = reverse("admin:catalog_productvariant_change", args=[variant.pk])
    response = admin_client.post(
        url, form_data(admin_client, url) | {"price": "30.00"} | change
    )
    assert response.status_code == 200
    assert message in response.content.decode()
    variant.refresh_from_db()
    assert (variant.price, variant.quantity_available) == (20, 5)
    assert not StockAdjustment.objects.exists()


# ---------------------------------------------------------------- the service


def test_saving_a_variant_never_writes_its_stock(variant):
    stale = ProductVariant.objects.get(pk=variant.pk)
    buyer_takes(variant, 3)
    stale.name = "Brass"
    stale.save()
    assert stock(variant) == 2
    assert ProductVariant.objects.get(pk=variant.pk).name == "Brass"

    stale.refresh_from_db()
    stale.quantity_available = 50
    with pytest.raises(ValueError, match="shop.catalog.stock"):
        stale.save()
    assert stock(variant) == 2


def test_stock_never_goes_below_zero_and_a_refused_change_changes_nothing(db):
    a = make_product(variants=[{"quantity_available": 2}]).variants.get()
    b = make_product(variants=[{"quantity_available": 1}]).variants.get()
    with pytest.raises(CatalogError) as refused:
        stock_change({a.pk: -2, b.pk: -2})
    assert [(s.variant_id, s.wanted, s.available) for s in refused.value.shortages] == [
        (b.pk, 2, 1)
    ]
    assert (stock(a), stock(b)) == (2, 1)
    assert stock_change({a.pk: -2, b.pk: 3}) == {a.pk: 0, b.pk: 4}


def test_an_adjustment_of_a_missing_variant_or_zero_units_is_refused(
    variant, superuser
):
    with pytest.raises(CatalogError) as missing:
        stock_adjust(
            variant_id=variant.pk + 999, delta=1, reason="RECEIVED", staff=superuser
        )
    assert missing.value.code == "NOT_FOUND"
    with pytest.raises(CatalogError) as zero:
        stock_adjust(variant_id=variant.pk, delta=0, reason="RECEIVED", staff=superuser)
    assert (zero.value.code, zero.value.field) == ("INVALID", "delta")
    assert not StockAdjustment.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_adjustments_racing_checkouts_lose_no_unit():
    staff = UserFactory(is_staff=True)
    variant = make_product(variants=[{"quantity_available": 10}]).variants.get()
    carts = [guest_cart((variant, 1)) for _ in range(8)]
    tasks = [lambda token=token: guest_checkout(token) for token in carts]
    tasks += [
        lambda delta=delta: stock_adjust(
            variant_id=variant.pk, delta=delta, reason="COUNTED", staff=staff
        )
        for delta in (5, 5, 5, 5, -1, -1, -1, -1)
    ]

    outcomes = race(tasks)

    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    assert stock(variant) == 10 - 8 + 20 - 4
    # Each record tells the stock its own change left: between two records only
    # sales (never another adjustment) can have lowered it.
    records = list(StockAdjustment.objects.order_by("id"))
    assert len(records) == 8
    for before, after in zip(records, records[1:], strict=False):
        assert after.quantity_after - before.quantity_after - after.delta <= 0
