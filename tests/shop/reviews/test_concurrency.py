"""Real parallel transactions on PostgreSQL: the product's review count, rating
total and average stay exactly what the visible reviews say."""

import random
from collections import Counter

import pytest

from shop.reviews.errors import ErrorCode
from shop.reviews.models import Review
from shop.reviews.services import (
    review_delete,
    review_update,
    review_visibility_set,
)
from tests.concurrency import race
from tests.factories import UserFactory, make_product
from tests.reviews_helpers import aggregates, recomputed, review

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def product(db):
    return make_product(variants=[{}])


def test_concurrent_reviews_all_count(product):
    users = [UserFactory() for _ in range(16)]
    ratings = [1 + n % 5 for n in range(16)]
    outcomes = race(
        [
            lambda user=user, rating=rating: review(user, product, rating)
            for user, rating in zip(users, ratings, strict=True)
        ]
    )
    assert all(isinstance(o, Review) for o in outcomes), outcomes
    assert aggregates(product) == recomputed(product)
    assert aggregates(product)[:2] == (16, sum(ratings))


def test_one_user_racing_themself_writes_one_review(product):
    user = UserFactory()
    outcomes = race([lambda n=n: review(user, product, 1 + n % 5) for n in range(8)])
    written = [o for o in outcomes if isinstance(o, Review)]
    assert len(written) == 1, outcomes
    assert Counter(o for o in outcomes if o not in written) == {
        ErrorCode.ALREADY_EXISTS: 7
    }
    assert aggregates(product) == (1, written[0].rating, recomputed(product)[2])


def test_concurrent_edits_hides_deletes_and_new_reviews(product):
    authors = [UserFactory() for _ in range(24)]
    reviews = [review(user, product, rating=3) for user in authors]
    newcomers = [UserFactory() for _ in range(6)]
    chance = random.Random(7)
    tasks = []
    for user, written in zip(authors, reviews, strict=True):
        kind = chance.choice(["edit", "edit", "hide", "delete", "hide+edit"])
        rating = chance.randint(1, 5)
        if kind == "edit":
            tasks.append(
                lambda u=user, r=written, x=rating: review_update(
                    user=u, review_id=r.pk, rating=x
                )
            )
        elif kind == "hide":
            tasks.append(
                lambda r=written: review_visibility_set(review_id=r.pk, hidden=True)
            )
        elif kind == "delete":
            tasks.append(
                lambda u=user, r=written: review_delete(user=u, review_id=r.pk)
            )
        else:  # the author edits while staff hide it: two transactions on one row
            tasks.append(
                lambda u=user, r=written, x=rating: review_update(
                    user=u, review_id=r.pk, rating=x
                )
            )
            tasks.append(
                lambda r=written: review_visibility_set(review_id=r.pk, hidden=True)
            )
    tasks += [lambda u=u: review(u, product, rating=5) for u in newcomers]
    outcomes = race(tasks)
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    assert aggregates(product) == recomputed(product)


def test_the_same_review_deleted_and_hidden_at_once(product):
    pairs = []
    for _ in range(8):
        user = UserFactory()
        pairs.append((user, review(user, product, rating=4)))
    review(UserFactory(), product, rating=2)
    tasks = []
    for user, written in pairs:
        tasks.append(lambda u=user, r=written: review_delete(user=u, review_id=r.pk))
        tasks.append(
            lambda r=written: review_visibility_set(review_id=r.pk, hidden=True)
        )
        tasks.append(lambda r=written: Review.objects.filter(pk=r.pk).delete())
    outcomes = race(tasks)
    assert not [
        o for o in outcomes if isinstance(o, Exception) or o == ErrorCode.INVALID
    ], outcomes
    assert aggregates(product) == recomputed(product) == (1, 2, 2)


def test_reviews_of_many_products_at_once():
    products = [make_product(variants=[{}]) for _ in range(4)]
    users = [UserFactory() for _ in range(5)]
    outcomes = race(
        [
            lambda u=user, p=product, r=1 + (i + j) % 5: review(u, p, r)
            for i, user in enumerate(users)
            for j, product in enumerate(products)
        ]
    )
    assert all(isinstance(o, Review) for o in outcomes), outcomes
    for product in products:
        assert aggregates(product) == recomputed(product)
        assert aggregates(product)[0] == 5
