"""No N+1 on reviews: a product page costs the same SQL with 20 reviews as with
2, and reviews nested in a product listing cost the same for 3 products as for
30."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from tests.factories import UserFactory, make_product
from tests.reviews_helpers import bought, review

pytestmark = pytest.mark.django_db

PRODUCT_PAGE = """
query($slug: String!) {
  product(slug: $slug) {
    id name averageRating reviewCount
    priceRange { min { amount } }
    variants { sku price { amount } quantityAvailable }
    reviews(first: 20) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { cursor node {
        id rating comment author verifiedPurchase createdAt editedAt
      } }
    }
  }
}
"""

LISTING = """
query($first: Int) {
  products(first: $first) {
    edges { node {
      name averageRating reviewCount
      reviews(first: 3) { totalCount edges { node { rating author comment } } }
    } }
  }
}
"""


def count_queries(gql, query: str, variables: dict) -> tuple[int, dict]:
    with CaptureQueriesContext(connection) as captured:
        data = gql.ok(query, variables)
    return len(captured.captured_queries), data


def reviewed_product(slug: str, reviews: int):
    product = make_product(slug=slug, variants=[{"quantity_available": 99}])
    for n in range(reviews):
        author = UserFactory(first_name=f"Reader{n}", last_name="Jones")
        if n % 2:
            bought(author, product)
        review(author, product, rating=1 + n % 5)
    return product


def test_a_product_page_with_20_reviews_costs_what_one_with_2_does(gql):
    counts = []
    for size in (2, 20):
        with transaction.atomic():
            reviewed_product(f"p{size}", size)
            count, data = count_queries(gql, PRODUCT_PAGE, {"slug": f"p{size}"})
            counts.append(count)
            shown = data["product"]["reviews"]
            assert len(shown["edges"]) == size == shown["totalCount"]
            assert {e["node"]["author"] for e in shown["edges"]} == {
                f"Reader{n} J." for n in range(size)
            }
            transaction.set_rollback(True)
    # the product, its variants, and its reviews with their authors (a join) and
    # their total count (a window) in one
    assert counts == [3, 3]


def test_reviews_in_a_listing_cost_the_same_for_3_and_30_products(gql):
    # Four readers review every product, through the review service; who bought
    # what is not in this selection, so no orders are placed (and four password
    # hashes instead of 132).
    readers = [
        UserFactory(first_name=f"Reader{n}", last_name="Jones") for n in range(4)
    ]
    counts = []
    for size in (3, 30):
        with transaction.atomic():
            for n in range(size):
                product = make_product(
                    slug=f"l{size}-{n}", variants=[{"quantity_available": 99}]
                )
                for k, reader in enumerate(readers):
                    review(reader, product, rating=1 + k)
            count, data = count_queries(gql, LISTING, {"first": size})
            counts.append(count)
            edges = data["products"]["edges"]
            assert len(edges) == size
            assert all(len(e["node"]["reviews"]["edges"]) == 3 for e in edges)
            assert all(e["node"]["reviews"]["totalCount"] == 4 for e in edges)
            transaction.set_rollback(True)
    assert counts[0] == counts[1]
