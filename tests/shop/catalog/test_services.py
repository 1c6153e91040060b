"""Catalog services and the database rules behind them."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from shop.catalog.errors import CatalogError, ErrorCode
from shop.catalog.models import AssignedAttribute, Category, Product, ProductVariant
from shop.catalog.services import (
    assigned_attributes_set,
    product_denormalised_refresh,
)
from tests.factories import ProductFactory, VariantFactory, make_product, value

pytestmark = pytest.mark.django_db


def test_refresh_sets_price_range_and_search_vector():
    product = ProductFactory(name="Desk Lamp", description="Warm light")
    VariantFactory(product=product, sku="LAMP-S", price=Decimal("19.50"))
    VariantFactory(product=product, sku="LAMP-L", price=Decimal("42.00"))
    bare = ProductFactory(name="Bare")

    assert product_denormalised_refresh(product_ids=[product.pk, bare.pk]) == 2

    product.refresh_from_db()
    assert (product.price_min, product.price_max) == (
        Decimal("19.50"),
        Decimal("42.00"),
    )
    vector = str(product.search_vector)
    for lexeme in ("'desk'", "'lamp'", "'warm'", "'lamp-l'"):
        assert lexeme in vector
    bare.refresh_from_db()
    assert (bare.price_min, bare.price_max) == (None, None)


def test_refresh_follows_price_changes_and_deletions():
    product = make_product(variants=[{"price": 5}, {"price": 9}])
    product.variants.filter(price=9).delete()
    product_denormalised_refresh(product_ids=[product.pk])
    product.refresh_from_db()
    assert (product.price_min, product.price_max) == (Decimal("5.00"), Decimal("5.00"))


def test_refresh_of_nothing_does_nothing():
    assert product_denormalised_refresh(product_ids=[]) == 0


def test_assigned_attributes_replace_previous_values():
    variant = VariantFactory()
    assigned_attributes_set(variant=variant, values=[value("color", "Red")])
    assigned_attributes_set(
        variant=variant, values=[value("color", "Blue"), value("size", "M")]
    )
    assert sorted(a.value.name for a in variant.assigned_attributes.all()) == [
        "Blue",
        "M",
    ]
    assert all(
        a.attribute_id == a.value.attribute_id
        for a in variant.assigned_attributes.all()
    )


def test_two_values_of_one_attribute_are_refused_and_nothing_changes():
    variant = VariantFactory()
    assigned_attributes_set(variant=variant, values=[value("color", "Red")])
    with pytest.raises(CatalogError) as caught:
        assigned_attributes_set(
            variant=variant, values=[value("color", "Blue"), value("color", "Green")]
        )
    assert caught.value.code == ErrorCode.INVALID
    assert caught.value.field == "attributes"
    assert [a.value.name for a in variant.assigned_attributes.all()] == ["Red"]


def test_assignment_needs_exactly_one_owner():
    with pytest.raises(ValueError, match="exactly one"):
        assigned_attributes_set(values=[])


def test_database_refuses_negative_stock():
    variant = VariantFactory(quantity_available=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        ProductVariant.objects.filter(pk=variant.pk).update(quantity_available=-1)
    variant.refresh_from_db()
    assert variant.quantity_available == 1


def test_database_refuses_negative_price():
    with pytest.raises(IntegrityError), transaction.atomic():
        VariantFactory(price=Decimal("-1"))


def test_database_refuses_a_second_value_of_one_attribute():
    variant = VariantFactory()
    red, blue = value("color", "Red"), value("color", "Blue")
    AssignedAttribute.objects.create(variant=variant, value=red)
    with pytest.raises(IntegrityError), transaction.atomic():
        AssignedAttribute.objects.create(variant=variant, value=blue)


def test_database_refuses_an_assignment_with_two_owners_or_none():
    variant = VariantFactory()
    red = value("color", "Red")
    with pytest.raises(IntegrityError), transaction.atomic():
        AssignedAttribute.objects.create(
            variant=variant, product=variant.product, value=red
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        AssignedAttribute.objects.create(value=red)


def test_skus_and_slugs_are_unique():
    VariantFactory(sku="DUP")
    with pytest.raises(IntegrityError), transaction.atomic():
        VariantFactory(sku="DUP")
    ProductFactory(slug="dup")
    with pytest.raises(IntegrityError), transaction.atomic():
        ProductFactory(slug="dup")
    assert Product.objects.filter(slug="dup").count() == 1


def test_category_cannot_be_its_own_ancestor():
    from django.core.exceptions import ValidationError

    root = Category.objects.create(name="Root", slug="root")
    child = Category.objects.create(name="Child", slug="child", parent=root)
    root.parent = child
    with pytest.raises(ValidationError):
        root.full_clean()
