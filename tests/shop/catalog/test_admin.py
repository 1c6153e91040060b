"""Staff manage the catalog in the admin; attributes work without code changes."""

from decimal import Decimal

import pytest
from django.urls import reverse

from shop.catalog.models import Attribute, AttributeValue, Product
from tests.factories import make_product, value

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "model", ["product", "productvariant", "attribute", "category"]
)
def test_changelists_and_add_pages_load(admin_client, model):
    make_product(variants=[{"price": 3, "color": "Red"}])
    for view in ("changelist", "add"):
        response = admin_client.get(reverse(f"admin:catalog_{model}_{view}"))
        assert response.status_code == 200


def test_changelist_search_and_stock_filter(admin_client):
    make_product(name="Lamp", variants=[{"sku": "LAMP-1", "quantity_available": 0}])
    make_product(name="Desk", variants=[{"sku": "DESK-1", "quantity_available": 40}])
    url = reverse("admin:catalog_productvariant_changelist")
    sold_out = admin_client.get(url, {"stock": "out"}).content.decode()
    assert "LAMP-1" in sold_out
    assert "DESK-1" not in sold_out
    found = admin_client.get(
        reverse("admin:catalog_product_changelist"), {"q": "DESK-1"}
    )
    assert "Desk" in found.content.decode()
    assert "Lamp" not in found.content.decode()


def product_form(**variant) -> dict:
    data = {
        "name": "Trail Tee",
        "slug": "trail-tee",
        "description": "Merino.",
        "is_published": "on",
        "variants-TOTAL_FORMS": "1",
        "variants-INITIAL_FORMS": "0",
        "variants-MIN_NUM_FORMS": "0",
        "variants-MAX_NUM_FORMS": "1000",
        "variants-0-sku": "TEE-M-RED",
        "variants-0-name": "M / Red",
        "variants-0-price": "39.00",
        "variants-0-stock_delta": "12",
        "variants-0-sort_order": "0",
        # the images inline, left empty
        "media-TOTAL_FORMS": "0",
        "media-INITIAL_FORMS": "0",
        "media-MIN_NUM_FORMS": "0",
        "media-MAX_NUM_FORMS": "1000",
    }
    data.update(variant)
    return data


def test_a_new_attribute_is_usable_on_a_variant_at_once(admin_client):
    response = admin_client.post(
        reverse("admin:catalog_attribute_add"),
        {
            "name": "Fit",
            "slug": "fit",
            "sort_order": "0",
            "values-TOTAL_FORMS": "2",
            "values-INITIAL_FORMS": "0",
            "values-MIN_NUM_FORMS": "0",
            "values-MAX_NUM_FORMS": "1000",
            "values-0-name": "Slim",
            "values-0-slug": "slim",
            "values-0-sort_order": "0",
            "values-1-name": "Relaxed",
            "values-1-slug": "relaxed",
            "values-1-sort_order": "1",
        },
    )
    assert response.status_code == 302
    slim = AttributeValue.objects.get(attribute__slug="fit", slug="slim")
    red = value("color", "Red")
    brand = value("brand", "Kestrel")

    response = admin_client.post(
        reverse("admin:catalog_product_add"),
        product_form(**{"variants-0-attribute_values": [slim.pk, red.pk]})
        | {"attribute_values": [brand.pk]},
    )
    assert response.status_code == 302, response.content.decode()[:2000]

    product = Product.objects.get(slug="trail-tee")
    assert product.price_min == product.price_max == Decimal("39.00")
    assert [a.value for a in product.assigned_attributes.all()] == [brand]
    variant = product.variants.get()
    assert {a.value for a in variant.assigned_attributes.all()} == {slim, red}
    # A new variant's stock is its first adjustment, recorded as received.
    assert variant.quantity_available == 12
    received = variant.stock_adjustments.get()
    assert (received.delta, received.reason) == (12, "RECEIVED")
    assert received.staff_email == "boss@example.com"
    assert Attribute.objects.filter(slug="fit").exists()


def test_two_values_of_one_attribute_are_refused_and_nothing_is_saved(admin_client):
    red, blue = value("color", "Red"), value("color", "Blue")
    response = admin_client.post(
        reverse("admin:catalog_product_add"),
        product_form(**{"variants-0-attribute_values": [red.pk, blue.pk]}),
    )
    assert response.status_code == 200
    assert "at most one value for each attribute" in response.content.decode()
    assert not Product.objects.exists()


def test_editing_a_variant_price_in_the_list_refreshes_the_product(admin_client):
    product = make_product(
        variants=[{"price": 10, "sku": "A", "quantity_available": 5}]
    )
    variant = product.variants.get()
    response = admin_client.post(
        reverse("admin:catalog_productvariant_changelist"),
        {
            "form-TOTAL_FORMS": "1",
            "form-INITIAL_FORMS": "1",
            "form-MIN_NUM_FORMS": "0",
            "form-MAX_NUM_FORMS": "1000",
            "form-0-id": str(variant.pk),
            "form-0-price": "12.50",
            # Not a column of the list any more: ignored.
            "form-0-quantity_available": "3",
            "_save": "Save",
        },
    )
    assert response.status_code == 302
    product.refresh_from_db()
    assert product.price_min == Decimal("12.50")
    variant.refresh_from_db()
    assert variant.quantity_available == 5
