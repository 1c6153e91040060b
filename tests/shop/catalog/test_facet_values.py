"""Facet filtering: each variant's attribute_value_ids (migration 0004) stays right
through every write, and the filters find what a plain evaluation finds."""

import itertools
from decimal import Decimal

import pytest
from django.db import connection

from shop.catalog.models import (
    AssignedAttribute,
    AttributeValue,
    Product,
    ProductVariant,
)
from shop.catalog.selectors import (
    AttributeCondition,
    _variant_match,
    product_conditions,
)
from shop.catalog.services import assigned_attributes_set
from shop.demo.bench_catalog import catalog_seed
from tests.factories import ProductFactory, VariantFactory, make_product, value

pytestmark = pytest.mark.django_db


def arrays() -> dict[int, list[int]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, attribute_value_ids FROM catalog_productvariant")
        return dict(cursor.fetchall())


def expected_arrays() -> dict[int, list[int]]:
    """What each variant's array must be: its values and its product's, sorted."""
    own: dict[int, set[int]] = {}
    of_product: dict[int, set[int]] = {}
    for product_id, variant_id, value_id in AssignedAttribute.objects.values_list(
        "product_id", "variant_id", "value_id"
    ):
        if variant_id is not None:
            own.setdefault(variant_id, set()).add(value_id)
        else:
            of_product.setdefault(product_id, set()).add(value_id)
    return {
        variant_id: sorted(
            own.get(variant_id, set()) | of_product.get(product_id, set())
        )
        for variant_id, product_id in ProductVariant.objects.values_list(
            "id", "product_id"
        )
    }


def assert_arrays_right() -> None:
    assert arrays() == expected_arrays()


def test_services_keep_the_arrays_right():
    phone = make_product(
        attributes={"brand": "Lumen"},
        variants=[
            {"sku": "P-1", "color": "Black", "storage": "128 GB"},
            {"sku": "P-2", "color": "White", "storage": "256 GB"},
        ],
    )
    assert_arrays_right()
    black, brand = value("color", "Black"), value("brand", "Lumen")
    first = phone.variants.get(sku="P-1")
    assert arrays()[first.pk] == sorted(
        [black.pk, brand.pk, value("storage", "128 GB").pk]
    )
    # a variant's values replaced; the product's brand changed for every variant
    assigned_attributes_set(variant=first, values=[value("color", "Red")])
    assigned_attributes_set(product=phone, values=[value("brand", "Orbit")])
    assert_arrays_right()
    assert brand.pk not in arrays()[first.pk]
    # no values at all
    assigned_attributes_set(product=phone, values=[])
    assigned_attributes_set(variant=first, values=[])
    assert_arrays_right()
    assert arrays()[first.pk] == []


def test_new_and_moved_variants_take_their_products_values():
    lumen = make_product(attributes={"brand": "Lumen"})
    orbit = make_product(attributes={"brand": "Orbit"})
    variant = VariantFactory(product=lumen)
    assert arrays()[variant.pk] == [value("brand", "Lumen").pk]
    variant.product = orbit
    variant.save()
    assert arrays()[variant.pk] == [value("brand", "Orbit").pk]
    ProductVariant.objects.filter(pk=variant.pk).update(product=lumen)
    assert_arrays_right()
    # bulk_create, as the admin's inlines and the demo loader do
    made = ProductVariant.objects.bulk_create(
        [ProductVariant(product=orbit, sku=f"B-{n}", price=1) for n in range(3)]
    )
    assert {arrays()[v.pk][0] for v in made} == {value("brand", "Orbit").pk}
    assert_arrays_right()


def test_every_kind_of_assignment_write_keeps_the_arrays_right():
    product = make_product(variants=[{"sku": "S-1"}, {"sku": "S-2"}])
    one, two = product.variants.order_by("sku")
    red, blue = value("color", "Red"), value("color", "Blue")
    # model save (insert, then update of the value), queryset update and delete
    assigned = AssignedAttribute(variant=one, value=red)
    assigned.save()
    assert arrays()[one.pk] == [red.pk]
    assigned.value = blue
    assigned.save()
    assert arrays()[one.pk] == [blue.pk]
    AssignedAttribute.objects.filter(pk=assigned.pk).update(variant=two)
    assert (arrays()[one.pk], arrays()[two.pk]) == ([], [blue.pk])
    AssignedAttribute.objects.bulk_create(
        [
            AssignedAttribute(variant=one, attribute_id=red.attribute_id, value=red),
            AssignedAttribute(
                product=product,
                attribute_id=value("brand", "Kite").attribute_id,
                value=value("brand", "Kite"),
            ),
        ]
    )
    assert_arrays_right()
    # raw SQL, as psql or another program would
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM catalog_assignedattribute WHERE product_id = %s",
            [product.pk],
        )
    assert_arrays_right()
    # deleting a value deletes its assignments (and a variant, its own)
    AttributeValue.objects.filter(pk=blue.pk).delete()
    assert_arrays_right()
    assert arrays()[two.pk] == []
    one.delete()
    product.delete()
    assert arrays() == {}


def test_a_seeded_catalog_written_to_afterwards_stays_right():
    catalog_seed(products=40, seed=5)
    assert_arrays_right()
    product = Product.objects.order_by("id").first()
    assigned_attributes_set(product=product, values=[value("brand", "Ember")])
    VariantFactory(product=product)
    assert_arrays_right()


# ---------------------------------------------------------------- filter results


def plain_matches(
    *,
    attributes=(),
    min_price=None,
    max_price=None,
    in_stock=None,
) -> set[int]:
    """The products the filter must find, evaluated in Python from the rows."""
    slugs = {
        pk: (attribute, slug)
        for pk, attribute, slug in AttributeValue.objects.values_list(
            "id", "attribute__slug", "slug"
        )
    }
    own: dict[int, set] = {}
    of_product: dict[int, set] = {}
    for product_id, variant_id, value_id in AssignedAttribute.objects.values_list(
        "product_id", "variant_id", "value_id"
    ):
        if variant_id is not None:
            own.setdefault(variant_id, set()).add(slugs[value_id])
        else:
            of_product.setdefault(product_id, set()).add(slugs[value_id])

    def has_all(values: set) -> bool:
        return all(any((a.slug, v) in values for v in a.values) for a in attributes)

    variants: dict[int, list] = {}
    for v in ProductVariant.objects.all():
        variants.setdefault(v.product_id, []).append(v)
    found = set()
    for product_id in Product.objects.values_list("id", flat=True):
        product_values = of_product.get(product_id, set())
        mine = variants.get(product_id, [])
        variant_conditions = min_price is not None or max_price is not None
        if any(
            has_all(own.get(v.pk, set()) | product_values)
            and (min_price is None or v.price >= min_price)
            and (max_price is None or v.price <= max_price)
            and (not in_stock or v.quantity_available > 0)
            for v in mine
        ) or (
            # no variant needed: product-level values, or no condition at all
            not variant_conditions
            and not in_stock
            and (has_all(product_values) if attributes else True)
        ):
            found.add(product_id)
        if in_stock is False and any(v.quantity_available > 0 for v in mine):
            found.discard(product_id)
    return found


ATTRIBUTE_CHOICES = [
    [],
    [AttributeCondition("color", ["black"])],
    [AttributeCondition("color", ["black"]), AttributeCondition("size", ["m"])],
    [
        AttributeCondition("color", ["red", "blue"]),
        AttributeCondition("size", ["xs", "xl"]),
    ],
    [AttributeCondition("brand", ["lumen"]), AttributeCondition("color", ["white"])],
    [AttributeCondition("brand", ["lumen", "orbit"])],
    [AttributeCondition("storage", ["256-gb"]), AttributeCondition("color", ["black"])],
    [AttributeCondition("color", ["no-such-colour"])],
    [AttributeCondition("no-such-attribute", ["black"])],
]
OTHER_CHOICES = [
    {},
    {"in_stock": True},
    {"in_stock": False},
    {"min_price": Decimal("20"), "max_price": Decimal("120"), "in_stock": True},
    {"max_price": Decimal("60")},
]


@pytest.fixture
def small_catalog():
    catalog_seed(products=250, seed=11)
    # products without variants: one with a brand only, one with nothing
    lumen = ProductFactory(name="Lumen Sample")
    assigned_attributes_set(product=lumen, values=[value("brand", "Lumen")])
    ProductFactory(name="Empty")


def test_filters_find_what_a_plain_evaluation_finds(small_catalog):
    nonempty = 0
    for attributes, other in itertools.product(ATTRIBUTE_CHOICES, OTHER_CHOICES):
        expected = plain_matches(attributes=attributes, **other)
        condition = product_conditions(attributes=attributes, **other)
        found = set(Product.objects.filter(condition).values_list("id", flat=True))
        assert found == expected, (attributes, other)
        # the same as the portable form (SQLite's) on the same rows
        portable = _variant_match(
            attributes=attributes,
            min_price=other.get("min_price"),
            max_price=other.get("max_price"),
            in_stock=other.get("in_stock"),
        )
        if other.get("in_stock") is not False:
            assert (
                set(Product.objects.filter(portable).values_list("id", flat=True))
                == expected
            ), (attributes, other)
        nonempty += bool(expected) and bool(attributes)
    assert nonempty > 15


def test_filters_combine_with_or_and_not(small_catalog):
    black_m = [
        AttributeCondition("color", ["black"]),
        AttributeCondition("size", ["m"]),
    ]
    lumen = [AttributeCondition("brand", ["lumen"])]
    a = plain_matches(attributes=black_m, in_stock=True)
    b = plain_matches(attributes=lumen)
    every = set(Product.objects.values_list("id", flat=True))
    either = product_conditions(attributes=black_m, in_stock=True) | product_conditions(
        attributes=lumen
    )
    assert set(Product.objects.filter(either).values_list("id", flat=True)) == a | b
    neither = ~product_conditions(attributes=black_m, in_stock=True)
    assert set(Product.objects.filter(neither).values_list("id", flat=True)) == (
        every - a
    )
    assert a
    assert b
    assert a != b
