"""Catalog reads. Each returns a QuerySet, so callers (the GraphQL optimizer) can
still narrow its columns and add prefetches."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from django.conf import settings
from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db import connection
from django.db.models import Exists, F, FloatField, OuterRef, Q, QuerySet
from django.db.models.expressions import OrderBy, RawSQL
from django.db.models.functions import Cast
from django.db.models.lookups import In

from shop.catalog.errors import CatalogError, ErrorCode
from shop.catalog.models import (
    AssignedAttribute,
    Attribute,
    AttributeValue,
    Category,
    Product,
    ProductVariant,
)
from shop.core.permissions import staff_may

SEARCH_CONFIG = "english"
SEARCH_MAX_LENGTH = 200


@dataclass(frozen=True)
class AttributeCondition:
    """Products whose attribute ``slug`` has one of ``values`` (value slugs)."""

    slug: str
    values: Sequence[str]


def attribute_conditions_checked(
    conditions: Sequence[AttributeCondition], *, counted_before: int = 0
) -> None:
    """Refuse (CatalogError INVALID) more attribute conditions than
    PRODUCT_FILTER_MAX_ATTRIBUTES in one request (``counted_before`` are those of
    the same request's other filter levels), or more values in one condition than
    PRODUCT_FILTER_MAX_VALUES: each costs the database a subquery or a comparison,
    and no storefront needs thousands."""
    most = settings.PRODUCT_FILTER_MAX_ATTRIBUTES
    if counted_before + len(conditions) > most:
        raise CatalogError(
            ErrorCode.INVALID,
            f"At most {most} attribute conditions in one product filter.",
            field="filters.attributes",
        )
    most = settings.PRODUCT_FILTER_MAX_VALUES
    for index, condition in enumerate(conditions):
        if len(condition.values) > most:
            raise CatalogError(
                ErrorCode.INVALID,
                f"At most {most} values in one attribute condition.",
                field=f"filters.attributes.{index}.values",
            )


# What each product sort key orders by. Price is the lowest price a buyer pays now
# (sales included), rating
# the average review rating: both denormalised, indexed columns.
PRODUCT_SORT_COLUMNS = {
    "created_at": "created_at",
    "name": "name",
    "price": "price_min",
    "rating": "rating_average",
}


def product_sort(
    key: str, *, descending: bool, nulls_first: bool | None = None
) -> OrderBy:
    """One product sort key. Products without a price or a rating sort last in
    either direction unless ``nulls_first`` says otherwise."""
    column = F(PRODUCT_SORT_COLUMNS[key])
    nulls = {"nulls_first": True} if nulls_first else {"nulls_last": True}
    return column.desc(**nulls) if descending else column.asc(**nulls)


def _sees_unpublished(user) -> bool:
    return staff_may(user, "catalog.view_product")


def product_list(*, user=None, products: QuerySet | None = None) -> QuerySet[Product]:
    """Products the user may see: published ones, and every product for staff with
    catalog.view_product."""
    products = Product.objects.all() if products is None else products
    if not _sees_unpublished(user):
        products = products.filter(is_published=True)
    return products


def variant_list(
    *, user=None, variants: QuerySet | None = None
) -> QuerySet[ProductVariant]:
    """Variants of the products the user may see."""
    variants = ProductVariant.objects.all() if variants is None else variants
    if not _sees_unpublished(user):
        variants = variants.filter(product__is_published=True)
    return variants


def category_roots() -> QuerySet[Category]:
    """The top of the category tree."""
    return Category.objects.filter(parent__isnull=True)


def category_edges() -> QuerySet[Category]:
    """The category tree's edges as ``(parent id, child id)`` rows, unordered: a
    query to read alone (``category_children``) or inside another one."""
    return (
        Category.objects.filter(parent__isnull=False)
        .order_by()
        .values_list("parent_id", "id")
    )


def category_children(
    edges: Iterable[tuple[int, int]] | None = None,
) -> dict[int, list[int]]:
    """The category tree as parent id -> child ids (one query, or none given the
    ``category_edges`` rows), for code that walks several subtrees in Python
    (sales, vouchers)."""
    children: dict[int, list[int]] = {}
    for parent, pk in category_edges() if edges is None else edges:
        children.setdefault(parent, []).append(pk)
    return children


def with_descendants(
    chosen: Iterable[int], children: dict[int, list[int]]
) -> frozenset[int]:
    """``chosen`` and every category below them in ``children``
    (``category_children``); a cycle already in the table ends the walk."""
    found, stack = set(), list(chosen)
    while stack:
        current = stack.pop()
        if current not in found:
            found.add(current)
            stack.extend(children.get(current, ()))
    return frozenset(found)


def attribute_list() -> QuerySet[Attribute]:
    """Every attribute, for building filter facets."""
    return Attribute.objects.all()


# The ids of a category (by slug) and of every category below it, inside the
# product query: no query of its own, and PostgreSQL filters the search matches by
# a hashed subtree instead of intersecting them with a bitmap of every product in
# the subtree (100k products, a department of 80k: the search count 30 -> 9 ms).
# UNION, not UNION ALL: a cycle already in the table ends instead of looping.
CATEGORY_SUBTREE_SQL = (
    "WITH RECURSIVE subtree(id) AS ("
    "SELECT id FROM catalog_category WHERE slug = %s "
    "UNION SELECT child.id FROM catalog_category child "
    "JOIN subtree ON child.parent_id = subtree.id"
    ") SELECT id FROM subtree"
)


# Attribute and variant conditions are written as ``IN (subquery)`` rather than
# correlated EXISTS: PostgreSQL hashes each subquery once, where EXISTS inside an OR
# is re-run for every variant (100k synthetic products, colour AND size AND in
# stock: the count went from 2.4 s to 0.35 s). On PostgreSQL the attribute part
# reads each variant's ``attribute_value_ids`` (its own values and its product's,
# kept by triggers: migration catalog 0004) through a GIN index instead: one
# bitmap scan for all the attributes (0.35 s -> about 20 ms per query).


def _owners_with(owner: str, condition: AttributeCondition) -> QuerySet:
    """Ids of the products or variants (``owner``) having one of the values."""
    values = AttributeValue.objects.filter(
        attribute__slug=condition.slug, slug__in=list(condition.values)
    ).values("id")
    return (
        AssignedAttribute.objects.filter(value_id__in=values)
        .order_by()
        .values(f"{owner}_id")
    )


def _variant_has(condition: AttributeCondition) -> Q:
    """A variant carries the value itself, or its product does (Brand)."""
    return Q(id__in=_owners_with("variant", condition)) | Q(
        product_id__in=_owners_with("product", condition)
    )


# The ids of one attribute's named values, as an array (PostgreSQL). Inside the
# query rather than looked up first: one query less per request, and the plan is
# the same (the matching variants are read first either way).
_VALUE_IDS_SQL = (
    "ARRAY(SELECT v.id FROM catalog_attributevalue v "
    "JOIN catalog_attribute a ON a.id = v.attribute_id "
    "WHERE a.slug = %s AND v.slug = ANY(%s))"
)


def _variant_match_postgresql(
    *,
    min_price: Decimal | None,
    max_price: Decimal | None,
    in_stock: bool | None,
    attributes: Sequence[AttributeCondition],
) -> Q:
    """Products with one variant meeting every condition, as one subquery over the
    variants' value arrays (PostgreSQL)."""
    where, params = [], []
    if min_price is not None:
        where.append("current_price >= %s")
        params.append(min_price)
    if max_price is not None:
        where.append("current_price <= %s")
        params.append(max_price)
    if in_stock:
        where.append("quantity_available > 0")
    for attribute in attributes:
        # OR within an attribute: the array shares one of its values.
        where.append(f"attribute_value_ids && {_VALUE_IDS_SQL}")
        params.extend([attribute.slug, list(attribute.values)])
    sql = "SELECT product_id FROM catalog_productvariant WHERE " + " AND ".join(where)
    if not attributes:
        # Price and stock only: a join the planner may walk in sort order, as a
        # common condition (in stock) finds a page within the first rows.
        return Q(id__in=RawSQL(sql, params))
    if min_price is None and max_price is None and not in_stock:
        # A product without variants can still match on product-level values.
        sql += " UNION " + " INTERSECT ".join(
            "SELECT product_id FROM catalog_assignedattribute "
            f"WHERE product_id IS NOT NULL AND value_id = ANY({_VALUE_IDS_SQL})"
            for _ in attributes
        )
        for attribute in attributes:
            params.extend([attribute.slug, list(attribute.values)])
    # The matching products first, then their page. As a plain IN (subquery),
    # PostgreSQL may walk the products in sort order probing each for a variant
    # (its pick when it expects many matches), which reads every product for a
    # rare colour and size; unnest(ARRAY(...)) is estimated small, so the matching
    # variants are read first, and under an OR it is still one hashed subplan.
    return Q(id__in=RawSQL(f"SELECT unnest(ARRAY({sql}))", params))


def product_conditions(
    *,
    search: str | None = None,
    category: str | None = None,
    min_price: Decimal | None = None,
    max_price: Decimal | None = None,
    attributes: Sequence[AttributeCondition] = (),
    in_stock: bool | None = None,
) -> Q:
    """One Q over Product for every given condition (so callers can combine them).

    Variant conditions (price range, attributes, ``in_stock=True``) must all hold for
    one same variant: "red, 256 GB, under 1000, in stock" finds a product only if one
    of its variants is all of that. Attribute values match OR within one attribute
    and AND across attributes; a product-level value (Brand) counts for every
    variant. ``in_stock=False`` means no variant can be bought. Raises CatalogError
    (INVALID) for a negative or inverted price range, or more attribute conditions
    or values than the settings allow.
    """
    min_price, max_price = _checked_price_bounds(min_price, max_price)
    attribute_conditions_checked(attributes)
    condition = Q()

    text = _search_text(search)
    if category is not None:
        subtree = RawSQL(CATEGORY_SUBTREE_SQL, [category])
        if text:
            # With a search, the full-text index finds the rows and the subtree
            # only filters them: "category_id + 0" keeps the planner off the
            # category index, which it picked for a common word in a department
            # and then tested every product of the department (100k products,
            # "mini" in Clothing: 110 -> 55 ms for the page, under load).
            condition &= Q(In(F("category_id") + 0, subtree))
        else:
            condition &= Q(category_id__in=subtree)

    if connection.vendor == "postgresql":
        if attributes or min_price is not None or max_price is not None or in_stock:
            condition &= _variant_match_postgresql(
                min_price=min_price,
                max_price=max_price,
                in_stock=in_stock,
                attributes=attributes,
            )
    else:
        condition &= _variant_match(
            min_price=min_price,
            max_price=max_price,
            in_stock=in_stock,
            attributes=attributes,
        )

    if in_stock is False:
        condition &= ~Q(
            Exists(
                ProductVariant.objects.filter(
                    product=OuterRef("pk"), quantity_available__gt=0
                )
            )
        )

    if text:
        condition &= _search_condition(text)
    return condition


def _variant_match(
    *,
    min_price: Decimal | None,
    max_price: Decimal | None,
    in_stock: bool | None,
    attributes: Sequence[AttributeCondition],
) -> Q:
    """Products with one variant meeting every condition, through the assignment
    table (any database)."""
    variant_q = Q()
    if min_price is not None:
        variant_q &= Q(current_price__gte=min_price)
    if max_price is not None:
        variant_q &= Q(current_price__lte=max_price)
    if in_stock:
        variant_q &= Q(quantity_available__gt=0)
    for attribute in attributes:
        variant_q &= _variant_has(attribute)
    if not variant_q:
        return Q()
    matching = Q(
        id__in=ProductVariant.objects.filter(variant_q).order_by().values("product_id")
    )
    if attributes and min_price is None and max_price is None and not in_stock:
        # A product without variants can still match on product-level values.
        product_level = Q()
        for attribute in attributes:
            product_level &= Q(id__in=_owners_with("product", attribute))
        matching |= product_level
    return matching


def _search_text(search: str | None) -> str:
    return (search or "").strip()[:SEARCH_MAX_LENGTH]


PRICE_LIMIT = Decimal("10000000000")  # prices have 12 digits, 2 after the point
CENT = Decimal("0.01")


def _checked_price_bounds(
    min_price: Decimal | None, max_price: Decimal | None
) -> tuple[Decimal | None, Decimal | None]:
    """Bounds rounded to the cent; CatalogError(INVALID) if negative, not a number,
    beyond any price, or inverted."""
    for field, bound in (("minPrice", min_price), ("maxPrice", max_price)):
        if bound is not None and (
            not bound.is_finite() or bound < 0 or bound >= PRICE_LIMIT
        ):
            raise CatalogError(
                ErrorCode.INVALID,
                f"{field} must be a price from 0 to {PRICE_LIMIT - CENT}.",
                field=field,
            )
    # Rounded inwards, so the bounds keep their meaning for prices in cents.
    if min_price is not None:
        min_price = min_price.quantize(CENT, rounding=ROUND_CEILING)
    if max_price is not None:
        max_price = max_price.quantize(CENT, rounding=ROUND_FLOOR)
    if min_price is not None and max_price is not None and min_price > max_price:
        raise CatalogError(
            ErrorCode.INVALID,
            "minPrice must not be greater than maxPrice.",
            field="minPrice",
        )
    return min_price, max_price


def _search_condition(text: str) -> Q:
    """Full-text match over name, description and SKUs.

    PostgreSQL matches the denormalised, GIN-indexed ``search_vector``; SQLite (the
    embedded mode) has no full-text search and falls back to substring matching.
    """
    if connection.vendor == "postgresql":
        return Q(search_vector=_search_query(text))
    sku_match = ProductVariant.objects.filter(
        product=OuterRef("pk"), sku__icontains=text
    )
    return (
        Q(name__icontains=text) | Q(description__icontains=text) | Q(Exists(sku_match))
    )


def _search_query(text: str) -> SearchQuery:
    return SearchQuery(text, config=SEARCH_CONFIG, search_type="websearch")


def product_search_ranked(
    products: QuerySet[Product], *, search: str | None
) -> QuerySet[Product]:
    """Order search results best match first (PostgreSQL), newest next."""
    text = _search_text(search)
    if not text or connection.vendor != "postgresql":
        return products
    # ts_rank is a float4; as a double its value survives the round trip through a
    # pagination cursor exactly, so keyset comparisons find the same row again.
    rank = Cast(SearchRank(F("search_vector"), _search_query(text)), FloatField())
    # An expression, not an annotation: the keyset connection selects each sort
    # value once as its own column, and an annotation made ts_rank run twice.
    return products.order_by(rank.desc(), "-created_at", "-id")
