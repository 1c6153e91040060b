"""Reviews through GraphQL: writing, changing and withdrawing them, each refusal,
and reading them on a product page."""

import pytest
from strawberry import relay

from shop.reviews.models import Review
from shop.reviews.services import review_visibility_set
from tests.factories import UserFactory, make_product
from tests.reviews_helpers import aggregates, bought, review

pytestmark = pytest.mark.django_db

CREATE = """
mutation($input: ReviewCreateInput!) {
  reviewCreate(input: $input) {
    review { id rating comment author verifiedPurchase hidden createdAt editedAt
             product { averageRating reviewCount } }
    errors { field code message }
  }
}
"""

UPDATE = """
mutation($id: ID!, $input: ReviewUpdateInput!) {
  reviewUpdate(id: $id, input: $input) {
    review { id rating comment editedAt product { averageRating reviewCount } }
    errors { field code message }
  }
}
"""

DELETE = """
mutation($id: ID!) {
  reviewDelete(id: $id) {
    deletedId product { averageRating reviewCount }
    errors { field code message }
  }
}
"""

PRODUCT_PAGE = """
query($slug: String!, $first: Int, $after: String, $filters: ReviewFilter) {
  product(slug: $slug) {
    name averageRating reviewCount
    reviews(first: $first, after: $after, filters: $filters) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { cursor node { id rating comment author verifiedPurchase createdAt } }
    }
  }
}
"""


def gid(type_name: str, pk: int) -> str:
    return str(relay.GlobalID(type_name, str(pk)))


@pytest.fixture
def product(db):
    return make_product(
        name="Kettle", slug="kettle", variants=[{"quantity_available": 20}]
    )


@pytest.fixture
def ada(db):
    return UserFactory(email="ada@example.com", first_name="Ada", last_name="Lovelace")


def create(gql, product, rating=5, comment="Boils fast."):
    return gql(
        CREATE,
        {
            "input": {
                "productId": gid("Product", product.pk),
                "rating": rating,
                "comment": comment,
            }
        },
    )


def test_a_signed_in_user_reviews_a_product(gql, product, ada):
    gql.login(ada)
    payload = create(gql, product, 4).data["reviewCreate"]
    assert payload["errors"] == []
    written = payload["review"]
    assert written["rating"] == 4
    assert written["comment"] == "Boils fast."
    assert written["author"] == "Ada L."
    assert written["verifiedPurchase"] is False
    assert written["hidden"] is False
    assert written["editedAt"] is None
    assert written["product"] == {"averageRating": 4.0, "reviewCount": 1}
    assert Review.objects.get().author == ada


def test_anonymous_reviews_are_refused_at_the_top(gql, product):
    result = create(gql, product)
    assert result.error_codes() == ["UNAUTHENTICATED"]
    assert result.data is None
    assert not Review.objects.exists()


def test_an_expired_or_bad_token_is_unauthenticated(gql, product):
    gql.authorize("Bearer not-a-token")
    assert create(gql, product).error_codes() == ["UNAUTHENTICATED"]
    for document, variables in (
        (UPDATE, {"id": gid("Review", 1), "input": {"rating": 2}}),
        (DELETE, {"id": gid("Review", 1)}),
    ):
        assert gql(document, variables).error_codes() == ["UNAUTHENTICATED"]


@pytest.mark.parametrize(
    ("rating", "comment", "errors"),
    [
        (0, "Fine.", [("rating", "INVALID")]),
        (6, "Fine.", [("rating", "INVALID")]),
        (5, "", [("comment", "INVALID")]),
        (5, "   ", [("comment", "INVALID")]),
        (5, "x" * 5001, [("comment", "INVALID")]),
        (99, "", [("rating", "INVALID"), ("comment", "INVALID")]),
    ],
)
def test_bad_input_is_a_typed_error(gql, product, ada, rating, comment, errors):
    gql.login(ada)
    payload = create(gql, product, rating, comment).data["reviewCreate"]
    assert payload["review"] is None
    assert [(e["field"], e["code"]) for e in payload["errors"]] == errors
    assert all(e["message"] for e in payload["errors"])
    assert not Review.objects.exists()
    assert aggregates(product) == (0, 0, None)


def test_a_second_review_already_exists(gql, product, ada):
    gql.login(ada)
    create(gql, product, 2)
    payload = create(gql, product, 5).data["reviewCreate"]
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [
        ("productId", "ALREADY_EXISTS")
    ]
    assert aggregates(product)[:2] == (1, 2)


def test_unknown_unpublished_and_malformed_products(gql, ada):
    gql.login(ada)
    unpublished = make_product(is_published=False, variants=[{}])
    for product_id, code in (
        (gid("Product", unpublished.pk), "NOT_FOUND"),
        (gid("Product", 999999), "NOT_FOUND"),
        (gid("ProductVariant", unpublished.variants.get().pk), "INVALID"),
        ("not-an-id", "INVALID"),
    ):
        payload = gql(
            CREATE,
            {"input": {"productId": product_id, "rating": 5, "comment": "Hm."}},
        ).data["reviewCreate"]
        assert [(e["field"], e["code"]) for e in payload["errors"]] == [
            ("productId", code)
        ], product_id
    assert not Review.objects.exists()


def test_a_verified_purchase_is_shown(gql, product, ada):
    bought(ada, product, "PAID")
    gql.login(ada)
    assert create(gql, product).data["reviewCreate"]["review"]["verifiedPurchase"]


def test_the_author_edits_and_withdraws(gql, product, ada):
    review(UserFactory(), product, rating=2)
    gql.login(ada)
    review_id = create(gql, product, 5).data["reviewCreate"]["review"]["id"]

    payload = gql.ok(UPDATE, {"id": review_id, "input": {"rating": 4}})["reviewUpdate"]
    assert payload["errors"] == []
    assert payload["review"]["rating"] == 4
    assert payload["review"]["comment"] == "Boils fast."
    assert payload["review"]["editedAt"] is not None
    assert payload["review"]["product"] == {"averageRating": 3.0, "reviewCount": 2}

    bad = gql.ok(UPDATE, {"id": review_id, "input": {"rating": 0}})["reviewUpdate"]
    assert [(e["field"], e["code"]) for e in bad["errors"]] == [("rating", "INVALID")]
    assert bad["review"] is None

    payload = gql.ok(DELETE, {"id": review_id})["reviewDelete"]
    assert payload == {
        "deletedId": review_id,
        "product": {"averageRating": 2.0, "reviewCount": 1},
        "errors": [],
    }
    assert not Review.objects.filter(author=ada).exists()


def test_others_reviews_are_not_found(gql, product, ada):
    theirs = review(UserFactory(), product, rating=3)
    gql.login(ada)
    for document, variables in (
        (UPDATE, {"id": gid("Review", theirs.pk), "input": {"rating": 1}}),
        (DELETE, {"id": gid("Review", theirs.pk)}),
        (DELETE, {"id": gid("Review", 424242)}),
    ):
        payload = next(iter(gql.ok(document, variables).values()))
        assert [(e["field"], e["code"]) for e in payload["errors"]] == [
            ("id", "NOT_FOUND")
        ]
    malformed = gql.ok(DELETE, {"id": gid("Product", product.pk)})["reviewDelete"]
    assert [(e["field"], e["code"]) for e in malformed["errors"]] == [("id", "INVALID")]
    assert Review.objects.get(pk=theirs.pk).rating == 3
    assert aggregates(product)[:2] == (1, 3)


def page(gql, slug="kettle", **variables):
    return gql.ok(PRODUCT_PAGE, {"slug": slug, **variables})["product"]


def test_a_product_page_lists_reviews_newest_first(gql, product):
    for n, rating in enumerate([5, 3, 4, 1]):
        author = UserFactory(first_name=f"Reader{n}", last_name="Smith")
        review(author, product, rating=rating, comment=f"Review {n}")
    shown = page(gql, first=3)
    assert shown["averageRating"] == 3.25
    assert shown["reviewCount"] == 4
    reviews = shown["reviews"]
    assert reviews["totalCount"] == 4
    assert [e["node"]["comment"] for e in reviews["edges"]] == [
        "Review 3",
        "Review 2",
        "Review 1",
    ]
    assert reviews["edges"][0]["node"]["author"] == "Reader3 S."
    assert reviews["pageInfo"]["hasNextPage"] is True
    rest = page(gql, first=3, after=reviews["pageInfo"]["endCursor"])["reviews"]
    assert [e["node"]["comment"] for e in rest["edges"]] == ["Review 0"]
    assert rest["pageInfo"]["hasNextPage"] is False


def test_the_author_is_never_an_email(gql, product):
    review(UserFactory(email="secret.person@example.com"), product)
    review(UserFactory(email="x@example.com", first_name="Grace"), product)
    authors = [e["node"]["author"] for e in page(gql, first=5)["reviews"]["edges"]]
    assert authors == ["Grace", "Customer"]


def test_reviews_filter_by_rating(gql, product):
    for rating in (5, 5, 4, 1):
        review(UserFactory(), product, rating=rating)
    fives = page(gql, first=10, filters={"rating": 5})["reviews"]
    assert fives["totalCount"] == 2
    assert {e["node"]["rating"] for e in fives["edges"]} == {5}
    assert page(gql, first=10, filters={"rating": 2})["reviews"]["totalCount"] == 0
    result = gql(PRODUCT_PAGE, {"slug": "kettle", "first": 5, "filters": {"rating": 6}})
    assert result.error_codes() == ["INVALID"]


def test_reviews_filter_by_verified_purchase(gql, product):
    buyer = UserFactory()
    bought(buyer, product)
    review(buyer, product, comment="Bought it.")
    review(UserFactory(), product, comment="Just looking.")
    verified = page(gql, first=5, filters={"verifiedPurchase": True})["reviews"]
    assert [e["node"]["comment"] for e in verified["edges"]] == ["Bought it."]
    assert verified["edges"][0]["node"]["verifiedPurchase"] is True


def test_hidden_reviews_are_not_listed_for_anyone(gql, product, ada, superuser):
    review(UserFactory(), product, rating=5, comment="Shown.")
    hidden = review(ada, product, rating=1, comment="Hidden.")
    review_visibility_set(review_id=hidden.pk, hidden=True)
    for viewer in (None, ada, superuser):
        if viewer is None:
            gql.authorize(None)
        else:
            gql.login(viewer)
        shown = page(gql, first=5)
        assert [e["node"]["comment"] for e in shown["reviews"]["edges"]] == ["Shown."]
        assert shown["reviews"]["totalCount"] == shown["reviewCount"] == 1
        assert shown["averageRating"] == 5.0


NODE = "query($id: ID!) { node(id: $id) { ... on Review { comment hidden } } }"
MY_REVIEWS = """{ me { reviews(first: 10) { totalCount
  edges { node { comment hidden product { slug } } } } } }"""


def test_only_its_author_still_reads_a_hidden_review(gql, product, ada, staff_user):
    hidden = review(ada, product, comment="Hidden.")
    review_visibility_set(review_id=hidden.pk, hidden=True)
    variables = {"id": gid("Review", hidden.pk)}
    assert gql.ok(NODE, variables)["node"] is None
    gql.login(UserFactory())
    assert gql.ok(NODE, variables)["node"] is None
    gql.login(ada)
    assert gql.ok(NODE, variables)["node"] == {"comment": "Hidden.", "hidden": True}
    mine = gql.ok(MY_REVIEWS)["me"]["reviews"]
    assert mine["totalCount"] == 1
    assert mine["edges"][0]["node"] == {
        "comment": "Hidden.",
        "hidden": True,
        "product": {"slug": "kettle"},
    }


def test_reviews_of_unpublished_products_are_not_readable(gql, ada):
    gone = make_product(slug="gone", variants=[{}])
    written = review(ada, gone, comment="Was nice.")
    gone.is_published = False
    gone.save()
    assert gql.ok(NODE, {"id": gid("Review", written.pk)})["node"] is None
    gql.login(ada)
    assert gql.ok(MY_REVIEWS)["me"]["reviews"]["totalCount"] == 0


def test_a_visible_review_is_a_node(gql, product):
    written = review(UserFactory(), product, comment="Public.")
    node = gql.ok(NODE, {"id": gid("Review", written.pk)})["node"]
    assert node == {"comment": "Public.", "hidden": False}


RATED = """query($ordering: [ProductOrder!]) { products(first: 10, ordering: $ordering)
  { edges { node { name averageRating reviewCount } } } }"""


def test_products_sort_by_rating_with_the_unrated_last(gql):
    ratings = {"Good": [5, 4], "Best": [5, 5, 5], "Poor": [1, 2], "Hidden only": [5]}
    for name, given in ratings.items():
        product = make_product(name=name, variants=[{}])
        for rating in given:
            review(UserFactory(), product, rating=rating)
    make_product(name="Unrated", variants=[{}])
    only = Review.objects.get(product__name="Hidden only")
    review_visibility_set(review_id=only.pk, hidden=True)

    def listed(direction):
        edges = gql.ok(RATED, {"ordering": [{"rating": direction}]})["products"]
        return [(e["node"]["name"], e["node"]["averageRating"]) for e in edges["edges"]]

    assert listed("DESC")[:3] == [("Best", 5.0), ("Good", 4.5), ("Poor", 1.5)]
    assert listed("ASC")[:3] == [("Poor", 1.5), ("Good", 4.5), ("Best", 5.0)]
    for direction in ("DESC", "ASC"):
        assert {name for name, _ in listed(direction)[3:]} == {"Unrated", "Hidden only"}
        assert all(average is None for _, average in listed(direction)[3:])
