"""No N+1: every list and connection costs the same number of SQL queries at 3
and at 50 rows."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from tests.factories import CategoryFactory, make_product

SIZES = (3, 50)


def build(size: int) -> None:
    """``size`` products over ``size`` categories, each with 3 attributed variants."""
    root = CategoryFactory(name="Root", slug="root")
    for n in range(size):
        category = CategoryFactory(name=f"Leaf {n}", slug=f"leaf-{n}", parent=root)
        make_product(
            name=f"Product {n}",
            category=category,
            attributes={"brand": f"Brand {n % 4}"},
            variants=[
                {"price": 10 + n + i, "color": f"Color {i}", "size": f"Size {n % 5}"}
                for i in range(3)
            ],
        )


def count_queries(gql, query: str, variables: dict | None = None) -> int:
    with CaptureQueriesContext(connection) as captured:
        gql.ok(query, variables)
    return len(captured.captured_queries)


PRODUCT_LISTING = """
query($first: Int) {
  products(first: $first, ordering: [{price: ASC}]) {
    totalCount
    edges { cursor node {
      id name slug inStock averageRating reviewCount
      priceRange { min { amount } max { amount } }
      category { slug parent { slug } }
      attributes { attribute { slug values { slug } } value { slug } }
      variants {
        sku price { amount } quantityAvailable
        attributes { attribute { slug } value { slug name } }
      }
    } }
  }
}
"""

QUERIES = {
    # name: (document, expected query count)
    "products listing": (PRODUCT_LISTING, 6),
    "filtered products": (
        """query($first: Int) { products(first: $first, filters: {
               search: "product", minPrice: "1", inStock: true,
               attributes: [{slug: "color", values: ["color-0", "color-1"]}]}) {
             totalCount edges { node { name variants { sku } } } } }""",
        3,
    ),
    "categories tree with products": (
        """query($first: Int) { categories { slug children {
               slug products(first: $first) { totalCount edges { node {
                 name variants { sku } } } } } } }""",
        4,
    ),
    "category products": (
        """query($first: Int) { category(slug: "root") { children { slug } }
             products(first: $first, filters: {category: "root"}) {
               edges { node { category { slug } } } } }""",
        3,
    ),
    "attributes with values": (
        "{ attributes { slug values { slug name } } }",
        2,
    ),
    "variants back to products": (
        """query($first: Int) { products(first: $first) { edges { node {
               variants { sku product { slug inStock priceRange { min { amount } } }
               } } } } }""",
        3,
    ),
}


@pytest.mark.parametrize("name", list(QUERIES))
def test_query_count_does_not_grow_with_page_size(gql, name):
    document, expected = QUERIES[name]
    counts = []
    for size in SIZES:
        with transaction.atomic():
            build(size)
            counts.append(count_queries(gql, document, {"first": size}))
            transaction.set_rollback(True)
    assert counts == [expected, expected]


def test_the_listing_returns_every_row(gql, db):
    build(50)
    data = gql.ok(PRODUCT_LISTING, {"first": 50})["products"]
    assert data["totalCount"] == 50
    assert len(data["edges"]) == 50
    assert all(len(edge["node"]["variants"]) == 3 for edge in data["edges"])
