"""Catalog writes."""

from collections.abc import Iterable

from django.contrib.postgres.aggregates import StringAgg
from django.contrib.postgres.search import SearchVector
from django.db import connection, transaction
from django.db.models import Max, Min, OuterRef, Subquery, TextField, Value
from django.db.models.functions import Coalesce

from shop.catalog.errors import CatalogError, ErrorCode
from shop.catalog.models import (
    AssignedAttribute,
    AttributeValue,
    Product,
    ProductVariant,
)
from shop.catalog.selectors import SEARCH_CONFIG


def _price_ranges() -> dict:
    variants = ProductVariant.objects.filter(product=OuterRef("pk")).order_by()
    return {
        "price_min": Subquery(
            variants.values("product").annotate(v=Min("current_price")).values("v")[:1]
        ),
        "price_max": Subquery(
            variants.values("product").annotate(v=Max("current_price")).values("v")[:1]
        ),
    }


def product_price_ranges_refresh(*, product_ids: Iterable[int]) -> int:
    """Recompute the price range (what the buyer pays now) of the given products,
    after their variants' sale prices changed. One UPDATE; returns how many rows."""
    ids = sorted(set(product_ids))
    if not ids:
        return 0
    if connection.vendor != "postgresql":
        return Product.objects.filter(pk__in=ids).update(**_price_ranges())
    # One pass over the variants grouped by product, writing only the ranges that
    # moved (a sale over 40,000 products: one statement, not 40,000 subqueries).
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE catalog_product AS p SET price_min = r.low, price_max = r.high "
            "FROM (SELECT i.id, min(v.current_price) AS low, "
            "max(v.current_price) AS high FROM unnest(%s::bigint[]) AS i(id) "
            "LEFT JOIN catalog_productvariant v ON v.product_id = i.id "
            "GROUP BY i.id) AS r "
            "WHERE p.id = r.id AND (p.price_min, p.price_max) "
            "IS DISTINCT FROM (r.low, r.high)",
            [ids],
        )
        return cursor.rowcount


def product_denormalised_refresh(*, product_ids: Iterable[int]) -> int:
    """Recompute the variants' sale prices, the price range and the search vector
    of the given products.

    Call it after any write that changes a product's name, description or
    category, or its variants' prices or SKUs. One UPDATE for all the products
    (and one per thousand variants whose sale price changed); returns how many
    products.
    """
    from shop.discounts.sales import sale_prices_refresh

    ids = sorted(set(product_ids))
    if not ids:
        return 0
    sale_prices_refresh(product_ids=ids)
    variants = ProductVariant.objects.filter(product=OuterRef("pk")).order_by()
    values = _price_ranges()
    if connection.vendor == "postgresql":
        skus = Subquery(
            variants.values("product")
            .annotate(v=StringAgg("sku", delimiter=" "))
            .values("v")[:1]
        )
        values["search_vector"] = (
            SearchVector("name", weight="A", config=SEARCH_CONFIG)
            + SearchVector(
                Coalesce(skus, Value(""), output_field=TextField()),
                weight="A",
                config=SEARCH_CONFIG,
            )
            + SearchVector("description", weight="C", config=SEARCH_CONFIG)
        )
    return Product.objects.filter(pk__in=ids).update(**values)


def _check_one_value_per_attribute(values: list[AttributeValue]) -> None:
    seen: dict[int, AttributeValue] = {}
    for value in values:
        other = seen.setdefault(value.attribute_id, value)
        if other is not value:
            raise CatalogError(
                ErrorCode.INVALID,
                f"Choose one value of {value.attribute.name}, not both "
                f"{other.name} and {value.name}.",
                field="attributes",
            )


@transaction.atomic
def assigned_attributes_set(
    *,
    values: Iterable[AttributeValue],
    product: Product | None = None,
    variant: ProductVariant | None = None,
) -> list[AssignedAttribute]:
    """Make ``values`` the attribute values of a product or of a variant.

    Replaces what was there. At most one value per attribute; raises CatalogError
    (INVALID) otherwise and changes nothing.
    """
    if (product is None) == (variant is None):
        raise ValueError("Give exactly one of product and variant.")
    chosen = list(values)
    _check_one_value_per_attribute(chosen)
    owner = {"product": product} if product is not None else {"variant": variant}
    AssignedAttribute.objects.filter(**owner).delete()
    return AssignedAttribute.objects.bulk_create(
        AssignedAttribute(**owner, attribute_id=value.attribute_id, value=value)
        for value in chosen
    )
