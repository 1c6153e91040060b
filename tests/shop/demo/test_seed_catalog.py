"""seed_catalog: a large generated catalog, consistent as the services leave it."""

from collections import Counter

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from shop.catalog.models import AssignedAttribute, Category, Product, ProductVariant
from shop.catalog.services import product_denormalised_refresh
from shop.demo.bench_catalog import catalog_seed, generated_products
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db


def denormalised() -> dict[int, tuple]:
    """Each product's denormalised columns; of the search vector, each lexeme with
    its weights. (Positions are left out: the services join the SKUs in whatever
    order the plan reads the variants, so their positions are not reproducible.)"""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, price_min, price_max, ("
            "  SELECT array_agg(lexeme || ':' || array_to_string(weights, '') "
            "  ORDER BY lexeme) FROM unnest(search_vector)"
            ") FROM catalog_product ORDER BY id"
        )
        return {row[0]: row[1:] for row in cursor.fetchall()}


def variant_value_arrays() -> dict[int, list[int]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, attribute_value_ids FROM catalog_productvariant")
        return dict(cursor.fetchall())


def test_generated_columns_are_what_the_services_compute():
    catalog_seed(products=300, seed=7)
    seeded = denormalised()
    assert len(seeded) == 300
    assert all(None not in columns for columns in seeded.values())
    product_denormalised_refresh(product_ids=seeded)
    assert denormalised() == seeded
    # each variant's attribute_value_ids as migration 0004's triggers compute it
    arrays = variant_value_arrays()
    assert all(arrays.values())
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT catalog_variant_values_refresh(array_agg(id)) "
            "FROM catalog_productvariant"
        )
    assert variant_value_arrays() == arrays
    assert not Product.objects.exclude(review_count=0).exists()
    assert not Product.objects.exclude(rating_total=0).exists()
    assert not Product.objects.filter(rating_average__isnull=False).exists()


def test_a_realistic_catalog():
    catalog_seed(products=300, seed=7)
    per_product = Counter(ProductVariant.objects.values_list("product_id", flat=True))
    assert set(per_product.values()) == {1, 2, 3, 4, 5, 6}
    assert len(per_product) == 300
    # leaves of a three-level tree, several of them
    leaf_ids = set(generated_products().values_list("category_id", flat=True))
    assert len(leaf_ids) > 30
    leaf = Category.objects.select_related("parent__parent").get(pk=min(leaf_ids))
    assert leaf.parent.parent.parent_id is None
    # variants carry colour and size, or colour and storage; products a brand
    by_variant: dict[int, set[str]] = {}
    for variant_id, slug in AssignedAttribute.objects.filter(
        variant__isnull=False
    ).values_list("variant_id", "attribute__slug"):
        by_variant.setdefault(variant_id, set()).add(slug)
    shapes = Counter(frozenset(slugs) for slugs in by_variant.values())
    assert shapes[frozenset({"color", "size"})] > 50
    assert shapes[frozenset({"color", "storage"})] > 5
    assert (
        AssignedAttribute.objects.filter(
            product__isnull=False, attribute__slug="brand"
        ).count()
        == 300
    )
    stock = list(ProductVariant.objects.values_list("quantity_available", flat=True))
    assert 0.05 < stock.count(0) / len(stock) < 0.35
    assert max(stock) > 100
    # searchable: the same query finds products through the vector
    some = generated_products().order_by("id").first()
    word = some.name.split()[-2]
    assert Product.objects.filter(search_vector=word).exists()


def test_deterministic_and_growable():
    catalog_seed(products=40, seed=3)
    first = list(generated_products().order_by("slug").values_list("name", "price_min"))
    catalog_seed(products=60, seed=3)
    grown = list(generated_products().order_by("slug").values_list("name", "price_min"))
    assert grown[:40] == first
    assert len(grown) == 60
    call_command("seed_catalog", products=60, seed=3, fresh=True)
    assert (
        list(generated_products().order_by("slug").values_list("name", "price_min"))
        == grown
    )


def test_command_is_idempotent_and_fresh_wipes_only_its_own(capsys):
    other = ProductFactory()
    call_command("seed_catalog", products=25)
    counts = (Product.objects.count(), ProductVariant.objects.count())
    call_command("seed_catalog", products=25)
    assert (Product.objects.count(), ProductVariant.objects.count()) == counts
    assert "kept (25 products already)" in capsys.readouterr().out
    with pytest.raises(CommandError, match="--fresh"):
        call_command("seed_catalog", products=10)
    call_command("seed_catalog", products=10, fresh=True)
    assert generated_products().count() == 10
    assert Product.objects.filter(pk=other.pk).exists()
    assert not AssignedAttribute.objects.filter(
        variant__isnull=False, variant__product__isnull=True
    ).exists()


def test_a_load_with_the_triggers_off_empties_the_response_cache_on_commit():
    """COPY with the tables' triggers off records no per-row tags: the load says
    everything changed (``*``), sent to Redis when it commits."""
    from shop.catalog.models import CacheInvalidation

    CacheInvalidation.objects.all().delete()
    catalog_seed(products=5, seed=1)
    # (the categories and attributes made first, triggers on, have their own tags)
    assert "*" in set(CacheInvalidation.objects.values_list("tag", flat=True))
    assert any(
        getattr(callback, "_shop_flush", False)
        for _, callback, _ in connection.run_on_commit
    )
