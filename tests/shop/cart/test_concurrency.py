"""Concurrent cart writes against real Redis lose no update."""

import time

import pytest
from django.contrib.auth.models import AnonymousUser

from shop.cart import services, store
from shop.catalog.models import Product
from tests.concurrency import race
from tests.factories import UserFactory, make_product

pytestmark = pytest.mark.django_db(transaction=True)


def hammer(workers: int, adds: int, action) -> list:
    """``workers`` threads at once, each running ``action`` ``adds`` times; returns
    what went wrong."""
    outcomes = race([lambda: [action() for _ in range(adds)]] * workers)
    return [outcome for outcome in outcomes if not isinstance(outcome, list)]


def test_concurrent_adds_to_one_guest_cart():
    variant = make_product(variants=[{"quantity_available": 500}]).variants.get()
    other = make_product(variants=[{"quantity_available": 500}]).variants.get()
    anonymous = AnonymousUser()
    token = services.cart_lines_add(
        user=anonymous, token=None, lines=[(variant.pk, 1)]
    ).token

    def add():
        services.cart_lines_add(
            user=anonymous, token=token, lines=[(variant.pk, 1), (other.pk, 1)]
        )

    assert hammer(8, 10, add) == []
    assert store.cart_lines(store.CartKey(token=token)) == {
        variant.pk: 81,
        other.pk: 80,
    }


def test_concurrent_adds_never_pass_the_stock():
    variant = make_product(variants=[{"quantity_available": 30}]).variants.get()
    user = UserFactory()
    refused = []

    def add():
        try:
            services.cart_lines_add(user=user, token=None, lines=[(variant.pk, 1)])
        except services.CartError as error:
            refused.append(error.code)

    assert hammer(8, 5, add) == []
    assert store.cart_lines(store.CartKey(user_id=user.pk)) == {variant.pk: 30}
    assert refused == ["INSUFFICIENT_STOCK"] * 10


def test_a_line_added_to_the_guest_cart_while_it_merges_is_kept(monkeypatch):
    user = UserFactory()
    lamp = make_product(variants=[{"quantity_available": 5}]).variants.get()
    mug = make_product(variants=[{"quantity_available": 5}]).variants.get()
    guest = AnonymousUser()
    token = services.cart_lines_add(user=guest, token=None, lines=[(lamp.pk, 1)]).token
    real_merge = store.guest_merge
    calls = []

    def merge_after_another_tab_adds(*args, **kwargs):
        if not calls:  # between the stock read and the merge script
            services.cart_lines_add(user=guest, token=token, lines=[(mug.pk, 2)])
        calls.append(args)
        return real_merge(*args, **kwargs)

    monkeypatch.setattr(store, "guest_merge", merge_after_another_tab_adds)
    services.cart_merge(user=user, token=token)

    assert store.cart_lines(store.CartKey(user_id=user.pk)) == {lamp.pk: 1, mug.pk: 2}
    assert store.cart_lines(store.CartKey(token=token)) is None
    assert len(calls) == 2


def test_a_merge_still_drops_lines_of_unpublished_variants():
    user = UserFactory()
    lamp = make_product(variants=[{"quantity_available": 5}]).variants.get()
    hidden = make_product(variants=[{"quantity_available": 5}]).variants.get()
    token = services.cart_lines_add(
        user=AnonymousUser(), token=None, lines=[(lamp.pk, 1), (hidden.pk, 1)]
    ).token
    Product.objects.filter(pk=hidden.product_id).update(is_published=False)
    services.cart_merge(user=user, token=token)
    assert store.cart_lines(store.CartKey(user_id=user.pk)) == {lamp.pk: 1}


def test_adds_racing_a_merge_are_all_in_the_users_cart_or_refused():
    user = UserFactory()
    variants = [
        make_product(variants=[{"quantity_available": 5}]).variants.get()
        for _ in range(30)
    ]
    guest = AnonymousUser()
    token = services.cart_lines_add(
        user=guest, token=None, lines=[(variants[0].pk, 1)]
    ).token
    added = [variants[0].pk]

    def keep_adding():
        for variant in variants[1:]:
            # Once merged the token is spent: INVALID_TOKEN ends the loop.
            services.cart_lines_add(user=guest, token=token, lines=[(variant.pk, 1)])
            added.append(variant.pk)

    def merge_soon():
        time.sleep(0.01)
        services.cart_merge(user=user, token=token)

    assert race([keep_adding, merge_soon]) in ([None, None], ["INVALID_TOKEN", None])
    assert store.cart_lines(store.CartKey(user_id=user.pk)) == dict.fromkeys(added, 1)
