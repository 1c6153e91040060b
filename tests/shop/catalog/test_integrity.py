"""Rules the database and the catalog's writes keep whatever path changes them:
no category cycle, an assigned value belongs to its attribute, a moved variant
leaves its old product."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.urls import reverse

from shop.catalog.models import AssignedAttribute, Category, Product
from shop.catalog.selectors import product_conditions
from tests.admin_helpers import admin_errors, form_data
from tests.concurrency import race
from tests.factories import CategoryFactory, make_product, value

# ---------------------------------------------------------------- category tree


@pytest.mark.django_db
def test_a_category_cannot_be_moved_under_its_own_descendant():
    a = CategoryFactory(name="A")
    b = CategoryFactory(name="B", parent=a)
    c = CategoryFactory(name="C", parent=b)
    a.parent = c
    with pytest.raises(ValidationError, match="own ancestor"):
        a.save()
    a.refresh_from_db()
    assert a.parent_id is None
    for category in (a, b, c):
        make_product(name=f"In {category.name}", category=category)
    assert in_category("a") == {"In A", "In B", "In C"}
    assert in_category("c") == {"In C"}


@pytest.mark.django_db
def test_the_admin_refuses_a_cycle_with_a_message(admin_client):
    a = CategoryFactory(name="A")
    b = CategoryFactory(name="B", parent=a)
    url = reverse("admin:catalog_category_change", args=[a.pk])
    response = admin_client.post(url, form_data(admin_client, url) | {"parent": b.pk})
    assert response.status_code == 200
    assert "cannot be its own ancestor" in response.content.decode()
    a.refresh_from_db()
    assert a.parent_id is None


@pytest.mark.django_db(transaction=True)
def test_two_moves_racing_cannot_close_a_cycle():
    a = CategoryFactory(name="A")
    b = CategoryFactory(name="B")

    def move(child: int, parent: int) -> None:
        category = Category.objects.get(pk=child)
        category.parent_id = parent
        category.save()

    outcomes = race([lambda: move(a.pk, b.pk), lambda: move(b.pk, a.pk)])

    assert sorted(type(o).__name__ for o in outcomes) == ["NoneType", "ValidationError"]
    parents = dict(Category.objects.values_list("pk", "parent_id"))
    assert None in (parents[a.pk], parents[b.pk])


@pytest.mark.django_db
def test_a_cycle_already_in_the_table_does_not_hang_the_category_filter():
    a = CategoryFactory(name="A")
    b = CategoryFactory(name="B", parent=a)
    Category.objects.filter(pk=a.pk).update(parent=b)  # bypasses save()
    make_product(name="Lamp A", category=a)
    make_product(name="Lamp B", category=b)
    assert in_category("a") == {"Lamp A", "Lamp B"}
    # With a search too (the subtree then only filters the full-text matches).
    assert in_category("b", search="lamp") == {"Lamp A", "Lamp B"}


def in_category(slug: str, search: str | None = None) -> set[str]:
    """The products the storefront's category filter finds."""
    return set(
        Product.objects.filter(
            product_conditions(category=slug, search=search)
        ).values_list("name", flat=True)
    )


# ---------------------------------------------------------------- attributes


@pytest.mark.django_db
def test_the_database_refuses_a_value_under_another_attribute():
    variant = make_product(variants=[{"color": "Red"}]).variants.get()
    red = value("color", "Red")
    size = value("size", "M").attribute
    with pytest.raises(IntegrityError), transaction.atomic():
        AssignedAttribute.objects.filter(variant=variant).update(attribute=size)
    with pytest.raises(IntegrityError), transaction.atomic():
        AssignedAttribute.objects.bulk_create(
            [AssignedAttribute(product=variant.product, attribute=size, value=red)]
        )
    assert connection.vendor == "postgresql"


# ---------------------------------------------------------------- moving variants


def searched(text: str) -> list[str]:
    return list(
        Product.objects.filter(product_conditions(search=text)).values_list(
            "name", flat=True
        )
    )


@pytest.mark.django_db
def test_moving_a_variant_refreshes_the_old_and_the_new_product(admin_client):
    lamp = make_product(
        name="Lamp",
        variants=[
            {"sku": "LAMP-CHEAP", "price": "5.00"},
            {"sku": "ZEPHYR-9", "price": "90.00"},
        ],
    )
    desk = make_product(name="Desk", variants=[{"sku": "DESK", "price": "50.00"}])
    moved = lamp.variants.get(sku="ZEPHYR-9")
    assert searched("ZEPHYR-9") == ["Lamp"]

    url = reverse("admin:catalog_productvariant_change", args=[moved.pk])
    response = admin_client.post(
        url, form_data(admin_client, url) | {"product": desk.pk}
    )

    assert response.status_code == 302, admin_errors(response)
    lamp.refresh_from_db()
    desk.refresh_from_db()
    assert (lamp.price_min, lamp.price_max) == (Decimal("5.00"), Decimal("5.00"))
    assert (desk.price_min, desk.price_max) == (Decimal("50.00"), Decimal("90.00"))
    assert searched("ZEPHYR-9") == ["Desk"]
