"""Review services: each refusal, the verified-purchase flag, and the product's
aggregates after every kind of write and deletion."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from shop.catalog.models import Product
from shop.reviews.errors import ErrorCode, ReviewError
from shop.reviews.models import COMMENT_MAX_LENGTH, Review
from shop.reviews.services import (
    review_create,
    review_delete,
    review_update,
    review_visibility_set,
)
from tests.factories import UserFactory, make_product
from tests.reviews_helpers import aggregates, bought, recomputed, review

pytestmark = pytest.mark.django_db


@pytest.fixture
def product(db):
    return make_product(name="Kettle", variants=[{"quantity_available": 50}])


def refusal(call) -> list[tuple[str, str | None]]:
    with pytest.raises(ReviewError) as raised:
        call()
    return [(e.code, e.field) for e in raised.value.errors]


def test_a_review_sets_the_aggregates(product):
    assert aggregates(product) == (0, 0, None)
    review(UserFactory(), product, rating=4)
    assert aggregates(product) == (1, 4, Decimal("4.00"))
    review(UserFactory(), product, rating=5)
    review(UserFactory(), product, rating=5)
    assert aggregates(product) == (3, 14, Decimal("4.67"))  # 4.666... rounds up


def test_the_average_rounds_half_up_like_decimal(product):
    # 1,1,2,2,2,2,2,2 -> 14/8 = 1.75; then 1,2 -> 1.50; 1,2,2 -> 1.666 -> 1.67;
    # 1,1,2 -> 1.333 -> 1.33; 8 x 5 + 1 -> 41/9 = 4.5555 -> 4.56
    for ratings in (
        [1, 1, 2, 2, 2, 2, 2, 2],
        [1, 2],
        [1, 2, 2],
        [1, 1, 2],
        [5] * 8 + [1],
    ):
        product = make_product(variants=[{}])
        for rating in ratings:
            review(UserFactory(), product, rating=rating)
        assert aggregates(product) == recomputed(product), ratings


def test_the_comment_is_stripped(product):
    assert review(UserFactory(), product, comment="  Good.\n").comment == "Good."


@pytest.mark.parametrize(
    ("rating", "comment", "expected"),
    [
        (0, "Fine.", [(ErrorCode.INVALID, "rating")]),
        (6, "Fine.", [(ErrorCode.INVALID, "rating")]),
        (-3, "Fine.", [(ErrorCode.INVALID, "rating")]),
        (3, "", [(ErrorCode.INVALID, "comment")]),
        (3, " \n\t ", [(ErrorCode.INVALID, "comment")]),
        (3, "x" * (COMMENT_MAX_LENGTH + 1), [(ErrorCode.INVALID, "comment")]),
        (9, "", [(ErrorCode.INVALID, "rating"), (ErrorCode.INVALID, "comment")]),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(product, rating, comment, expected):
    user = UserFactory()
    assert refusal(lambda: review(user, product, rating, comment)) == expected
    assert not Review.objects.exists()
    assert aggregates(product) == (0, 0, None)


def test_the_longest_comment_is_accepted(product):
    review(UserFactory(), product, comment="x" * COMMENT_MAX_LENGTH)
    assert aggregates(product)[0] == 1


def test_unknown_and_unpublished_products_are_not_found(product):
    user = UserFactory()
    hidden = make_product(is_published=False, variants=[{}])
    for product_id in (hidden.pk, 987654):
        assert refusal(
            lambda pid=product_id: review_create(
                user=user, product_id=pid, rating=5, comment="Nice."
            )
        ) == [(ErrorCode.NOT_FOUND, "productId")]
    assert not Review.objects.exists()
    assert aggregates(hidden) == (0, 0, None)


def test_a_second_review_of_the_same_product_already_exists(product):
    user = UserFactory()
    review(user, product, rating=2)
    assert refusal(lambda: review(user, product, rating=5)) == [
        (ErrorCode.ALREADY_EXISTS, "productId")
    ]
    assert aggregates(product) == (1, 2, Decimal("2.00"))
    # another product is fine
    review(user, make_product(variants=[{}]), rating=5)


def test_the_database_refuses_what_the_service_refuses(product):
    user = UserFactory()
    bad = [
        {"rating": 0, "comment": "x"},
        {"rating": 6, "comment": "x"},
        {"rating": 3, "comment": ""},
        {"rating": 3, "comment": "x" * (COMMENT_MAX_LENGTH + 1)},
    ]
    for fields in bad:
        with pytest.raises(IntegrityError), transaction.atomic():
            Review.objects.create(product=product, author=user, **fields)
    Review.objects.create(product=product, author=user, rating=3, comment="x")
    with pytest.raises(IntegrityError), transaction.atomic():
        Review.objects.create(product=product, author=user, rating=3, comment="y")


def test_the_database_refuses_inconsistent_aggregates(product):
    for values in (
        {"review_count": 1},  # a count without a total or an average
        {"review_count": 1, "rating_total": 6, "rating_average": "5.00"},
        {"review_count": 0, "rating_average": "4.00"},
        {"review_count": 2, "rating_total": 1, "rating_average": "1.00"},
    ):
        with pytest.raises(IntegrityError), transaction.atomic():
            Product.objects.filter(pk=product.pk).update(**values)


@pytest.mark.parametrize(
    ("status", "verified"),
    [
        ("PAID", True),
        ("FULFILLED", True),
        ("REFUNDED", True),
        ("PENDING_PAYMENT", False),
        ("CANCELED", False),
    ],
)
def test_verified_purchase_needs_a_paid_order(product, status, verified):
    user = UserFactory()
    bought(user, product, status)
    assert review(user, product).verified_purchase is verified


def test_verified_purchase_is_about_this_product_and_this_user(product):
    user, other = UserFactory(), UserFactory()
    bought(user, make_product(variants=[{"quantity_available": 5}]))
    bought(other, product)
    assert review(user, product).verified_purchase is False


def test_an_edit_checks_the_purchase_again(product):
    user = UserFactory()
    written = review(user, product)
    assert written.verified_purchase is False
    bought(user, product)
    edited = review_update(user=user, review_id=written.pk, comment="Bought it now.")
    assert edited.verified_purchase is True
    assert Review.objects.get(pk=written.pk).verified_purchase is True


def test_an_edit_moves_the_total_by_the_difference(product):
    user = UserFactory()
    review(UserFactory(), product, rating=5)
    mine = review(user, product, rating=1)
    assert aggregates(product) == (2, 6, Decimal("3.00"))
    edited = review_update(user=user, review_id=mine.pk, rating=4)
    assert aggregates(product) == (2, 9, Decimal("4.50"))
    assert edited.edited_at is not None
    assert edited.comment == "Does the job."
    review_update(user=user, review_id=mine.pk, comment="Changed my mind.")
    assert aggregates(product) == (2, 9, Decimal("4.50"))
    assert Review.objects.get(pk=mine.pk).comment == "Changed my mind."


def test_an_edit_is_checked_like_a_new_review(product):
    user = UserFactory()
    mine = review(user, product, rating=3)
    assert refusal(
        lambda: review_update(user=user, review_id=mine.pk, rating=7, comment=" ")
    ) == [(ErrorCode.INVALID, "rating"), (ErrorCode.INVALID, "comment")]
    assert Review.objects.get(pk=mine.pk).rating == 3
    assert Review.objects.get(pk=mine.pk).edited_at is None
    assert aggregates(product) == (1, 3, Decimal("3.00"))


def test_only_the_author_edits_or_deletes(product):
    author, stranger = UserFactory(), UserFactory()
    mine = review(author, product, rating=3)
    for call in (
        lambda: review_update(user=stranger, review_id=mine.pk, rating=1),
        lambda: review_delete(user=stranger, review_id=mine.pk),
        lambda: review_delete(user=author, review_id=mine.pk + 1000),
    ):
        assert refusal(call) == [(ErrorCode.NOT_FOUND, "id")]
    assert aggregates(product) == (1, 3, Decimal("3.00"))


def test_deleting_leaves_the_aggregates(product):
    user = UserFactory()
    review(UserFactory(), product, rating=2)
    mine = review(user, product, rating=5)
    assert review_delete(user=user, review_id=mine.pk) == product.pk
    assert aggregates(product) == (1, 2, Decimal("2.00"))
    assert not Review.objects.filter(pk=mine.pk).exists()
    # the author may now review it again
    review(user, product, rating=4)
    assert aggregates(product) == (2, 6, Decimal("3.00"))


def test_the_last_review_deleted_leaves_no_average(product):
    user = UserFactory()
    mine = review(user, product, rating=5)
    review_delete(user=user, review_id=mine.pk)
    assert aggregates(product) == (0, 0, None)


def test_hiding_and_showing(product):
    user = UserFactory()
    review(UserFactory(), product, rating=4)
    mine = review(user, product, rating=1)
    assert review_visibility_set(review_id=mine.pk, hidden=True) is True
    assert aggregates(product) == (1, 4, Decimal("4.00"))
    assert review_visibility_set(review_id=mine.pk, hidden=True) is False  # again
    assert aggregates(product) == (1, 4, Decimal("4.00"))
    # a hidden review's edits and deletion move nothing
    review_update(user=user, review_id=mine.pk, rating=2)
    assert aggregates(product) == (1, 4, Decimal("4.00"))
    assert review_visibility_set(review_id=mine.pk, hidden=False) is True
    assert aggregates(product) == (2, 6, Decimal("3.00"))
    review_visibility_set(review_id=mine.pk, hidden=True)
    review_delete(user=user, review_id=mine.pk)
    assert aggregates(product) == (1, 4, Decimal("4.00"))
    assert review_visibility_set(review_id=mine.pk, hidden=False) is False  # gone


def test_hiding_every_review_leaves_no_average(product):
    only = review(UserFactory(), product, rating=3)
    review_visibility_set(review_id=only.pk, hidden=True)
    assert aggregates(product) == (0, 0, None)


def test_any_deletion_leaves_the_aggregates(product):
    """The admin's delete, a queryset delete and a deleted author's account all
    take the reviews out, not only reviewDelete."""
    leaving, staying = UserFactory(), UserFactory()
    other = make_product(variants=[{}])
    review(leaving, product, rating=1)
    review(leaving, other, rating=2)
    review(staying, product, rating=5)
    review(staying, other, rating=4)
    hidden = review(UserFactory(), product, rating=3)
    review_visibility_set(review_id=hidden.pk, hidden=True)

    leaving.delete()
    assert aggregates(product) == (1, 5, Decimal("5.00"))
    assert aggregates(other) == (1, 4, Decimal("4.00"))

    Review.objects.filter(pk=hidden.pk).delete()  # hidden: counted for nothing
    assert aggregates(product) == (1, 5, Decimal("5.00"))
    Review.objects.filter(product=other).delete()
    assert aggregates(other) == (0, 0, None)
    Review.objects.get(product=product).delete()
    assert aggregates(product) == (0, 0, None)


def test_deleting_a_product_takes_its_reviews(product):
    review(UserFactory(), product, rating=5)
    product.delete()
    assert not Review.objects.exists()


def test_saving_a_product_loaded_earlier_keeps_the_reviews_since(product):
    """An admin form loads the product, a review is written, the form saves."""
    loaded = Product.objects.get(pk=product.pk)
    review(UserFactory(), product, rating=5)
    loaded.name = "Kettle Pro"
    loaded.save()
    assert aggregates(product) == (1, 5, Decimal("5.00"))
    assert Product.objects.get(pk=product.pk).name == "Kettle Pro"
    with pytest.raises(ValueError, match="shop.reviews.services"):
        loaded.save(update_fields=["review_count"])
