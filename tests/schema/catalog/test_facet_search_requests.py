"""The storefront's search and facet requests over a generated catalog: two SQL
queries (the page and its count) whatever the page size, and the products and
totals a plain evaluation of the rows gives."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from shop.catalog.models import AssignedAttribute, Category, Product, ProductVariant
from shop.demo.bench_catalog import catalog_seed

# The shapes scripts/bench drives (a search results page, a facet filter).
SEARCH = """query($search: String!, $category: String, $first: Int) {
  products(first: $first, filters: {search: $search, category: $category}) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node {
      id name slug inStock category { name }
      priceRange { min { amount currency } max { amount currency } }
    } }
  }
}"""
FACETS = """query($attributes: [AttributeFilter!], $first: Int, $after: String) {
  products(first: $first, after: $after,
           filters: {attributes: $attributes, inStock: true}) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node {
      id name slug inStock category { name }
      priceRange { min { amount currency } max { amount currency } }
    } }
  }
}"""


@pytest.fixture
def catalog(db):
    catalog_seed(products=200, seed=3)


def black_m(colour="black", size="m") -> list[dict]:
    return [
        {"slug": "color", "values": [colour]},
        {"slug": "size", "values": [size]},
    ]


def queries(gql, document: str, variables: dict) -> tuple[dict, int]:
    with CaptureQueriesContext(connection) as captured:
        data = gql.ok(document, variables)["products"]
    return data, len(captured.captured_queries)


@pytest.mark.parametrize("first", [2, 50])
def test_two_queries_whatever_the_page_size(gql, catalog, first):
    _, counted = queries(
        gql, SEARCH, {"search": "jacket", "category": "clothing", "first": first}
    )
    assert counted == 2
    _, counted = queries(gql, FACETS, {"attributes": black_m(), "first": first})
    assert counted == 2


def published_in_stock_with(colour: str, size: str) -> set[str]:
    """Slugs of published products with one variant in stock in that colour
    and size, from the rows."""
    values: dict[int, set[tuple[str, str]]] = {}
    for variant_id, attribute, slug in AssignedAttribute.objects.filter(
        variant__isnull=False
    ).values_list("variant_id", "attribute__slug", "value__slug"):
        values.setdefault(variant_id, set()).add((attribute, slug))
    return {
        slug
        for variant_id, slug in ProductVariant.objects.filter(
            quantity_available__gt=0, product__is_published=True
        ).values_list("id", "product__slug")
        if {("color", colour), ("size", size)} <= values.get(variant_id, set())
    }


def every_page(gql, document: str, variables: dict) -> tuple[list[str], int]:
    slugs, after, total = [], None, None
    while True:
        data = gql.ok(document, variables | {"first": 7, "after": after})["products"]
        total = data["totalCount"] if total is None else total
        assert data["totalCount"] == total
        slugs += [edge["node"]["slug"] for edge in data["edges"]]
        if not data["pageInfo"]["hasNextPage"]:
            return slugs, total
        after = data["pageInfo"]["endCursor"]


def test_the_facet_filter_finds_what_the_rows_say(gql, catalog):
    checked = 0
    for colour, size in [("black", "m"), ("white", "s"), ("blue", "l"), ("red", "xl")]:
        expected = published_in_stock_with(colour, size)
        slugs, total = every_page(gql, FACETS, {"attributes": black_m(colour, size)})
        assert sorted(slugs) == sorted(expected)
        assert len(slugs) == len(set(slugs)) == total
        # newest first, as the listing
        created = dict(Product.objects.values_list("slug", "created_at"))
        assert [created[s] for s in slugs] == sorted(
            (created[s] for s in slugs), reverse=True
        )
        checked += bool(expected)
    assert checked >= 3


def test_search_within_a_department_finds_what_the_rows_say(gql, catalog):
    clothing = Category.objects.get(slug="clothing")
    below = {clothing.pk}
    for _ in range(3):
        below |= set(
            Category.objects.filter(parent_id__in=below).values_list("id", flat=True)
        )
    word = re.compile(r"\bjackets?\b", re.IGNORECASE)
    expected = {
        slug
        for slug, name, description in Product.objects.filter(
            is_published=True, category_id__in=below
        ).values_list("slug", "name", "description")
        if word.search(name) or word.search(description)
    }
    slugs, total = every_page(gql, SEARCH, {"search": "jacket", "category": "clothing"})
    assert sorted(slugs) == sorted(expected)
    assert total == len(expected) >= 2
    # a category nobody has: nothing, and no error
    data = gql.ok(SEARCH, {"search": "jacket", "category": "no-such", "first": 5})
    assert data["products"]["totalCount"] == 0
