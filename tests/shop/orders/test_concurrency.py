"""Real concurrent checkouts on PostgreSQL: stock can never be oversold."""

from collections import Counter

import pytest

from shop.catalog.models import ProductVariant
from shop.orders.models import Order
from shop.orders.services import checkout_complete
from tests.concurrency import race
from tests.factories import UserFactory, make_product
from tests.orders_helpers import ADDRESS, guest_cart, guest_checkout, user_cart

pytestmark = pytest.mark.django_db(transaction=True)


def test_many_buyers_for_little_stock():
    variant = make_product(variants=[{"quantity_available": 5}]).variants.get()
    carts = [guest_cart((variant, 1)) for _ in range(16)]
    outcomes = race([lambda token=token: guest_checkout(token) for token in carts])
    orders = [o for o in outcomes if isinstance(o, Order)]
    refused = Counter(o for o in outcomes if not isinstance(o, Order))
    assert len(orders) == 5
    assert set(refused) <= {"OUT_OF_STOCK", "INSUFFICIENT_STOCK"}
    assert sum(refused.values()) == 11
    assert ProductVariant.objects.get(pk=variant.pk).quantity_available == 0
    assert Order.objects.count() == 5


def test_crossing_carts_do_not_deadlock():
    a = make_product(variants=[{"quantity_available": 40}]).variants.get()
    b = make_product(variants=[{"quantity_available": 40}]).variants.get()
    # half the carts list a first, half b first: locks are still taken in pk order
    carts = [guest_cart((a, 1), (b, 2)) for _ in range(6)]
    carts += [guest_cart((b, 1), (a, 2)) for _ in range(6)]
    outcomes = race([lambda token=token: guest_checkout(token) for token in carts])
    assert all(isinstance(o, Order) for o in outcomes), outcomes
    assert ProductVariant.objects.get(pk=a.pk).quantity_available == 40 - 18
    assert ProductVariant.objects.get(pk=b.pk).quantity_available == 40 - 18


def test_a_retried_checkout_racing_itself_makes_one_order():
    variant = make_product(variants=[{"quantity_available": 10}]).variants.get()
    token = guest_cart((variant, 2))
    outcomes = race(
        [lambda: guest_checkout(token, idempotency_key="retry-1") for _ in range(6)]
    )
    assert all(isinstance(o, Order) for o in outcomes), outcomes
    assert len({o.pk for o in outcomes}) == 1
    assert Order.objects.count() == 1
    assert ProductVariant.objects.get(pk=variant.pk).quantity_available == 8


def test_a_double_clicked_checkout_without_a_key_makes_one_order():
    variant = make_product(variants=[{"quantity_available": 10}]).variants.get()
    token = guest_cart((variant, 1))
    outcomes = race([lambda: guest_checkout(token) for _ in range(3)])
    assert all(isinstance(o, Order) for o in outcomes), outcomes
    assert len({o.pk for o in outcomes}) == 1
    assert Order.objects.count() == 1
    assert ProductVariant.objects.get(pk=variant.pk).quantity_available == 9


def test_a_signed_in_buyers_parallel_checkouts_with_different_keys_make_one_order():
    user = UserFactory()
    variant = make_product(variants=[{"quantity_available": 10}]).variants.get()
    user_cart(user, (variant, 2))
    outcomes = race(
        [
            lambda key=key: checkout_complete(
                user=user,
                cart_token=None,
                email=None,
                address=ADDRESS,
                idempotency_key=key,
            )
            for key in ("tab-1", "tab-2", None, None)
        ]
    )
    assert all(isinstance(o, Order) for o in outcomes), outcomes
    assert len({o.pk for o in outcomes}) == 1
    assert ProductVariant.objects.get(pk=variant.pk).quantity_available == 8
