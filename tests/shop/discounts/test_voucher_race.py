"""Real concurrent checkouts on PostgreSQL racing for a voucher's last use."""

from collections import Counter
from decimal import Decimal

import pytest

from shop.catalog.models import ProductVariant
from shop.discounts.models import Voucher, VoucherKind, VoucherUse
from shop.orders.models import Order
from tests.concurrency import race
from tests.factories import make_product
from tests.orders_helpers import guest_cart, guest_checkout

pytestmark = pytest.mark.django_db(transaction=True)


def test_twenty_buyers_for_the_last_use_make_one_discounted_order():
    # Each buyer buys another product: no stock lock serialises them, only the
    # voucher's.
    variants = [
        make_product(
            variants=[{"price": "50.00", "quantity_available": 1}]
        ).variants.get()
        for _ in range(22)
    ]
    code = Voucher.objects.create(
        code="LAST", kind=VoucherKind.PERCENTAGE, value=Decimal(10), usage_limit=3
    )
    # two uses taken already: one left
    for n in range(2):
        guest_checkout(
            guest_cart((variants[n], 1)), voucher_code="LAST", email=f"{n}@x.io"
        )
    carts = [guest_cart((variant, 1)) for variant in variants[2:]]
    outcomes = race(
        [
            lambda token=token, n=n: guest_checkout(
                token, voucher_code="last", email=f"buyer{n}@x.io"
            )
            for n, token in enumerate(carts)
        ]
    )
    orders = [o for o in outcomes if isinstance(o, Order)]
    refused = Counter(o for o in outcomes if not isinstance(o, Order))
    assert len(orders) == 1, outcomes
    assert refused == {"VOUCHER_USED_UP": 19}
    [winner] = orders
    assert (winner.discount, winner.voucher_code) == (Decimal("5.00"), "LAST")
    code.refresh_from_db()
    assert code.used == 3
    assert VoucherUse.objects.filter(voucher=code).count() == 3
    # the refused wrote nothing: only the three orders took stock
    assert Order.objects.count() == 3
    left = ProductVariant.objects.filter(quantity_available=1).count()
    assert left == 22 - 3


def test_one_customer_racing_themselves_gets_their_one_use_once():
    variants = [
        make_product(variants=[{"quantity_available": 1}]).variants.get()
        for _ in range(8)
    ]
    Voucher.objects.create(
        code="ONCE", kind=VoucherKind.FIXED, value=Decimal(1), per_customer_limit=1
    )
    carts = [guest_cart((variant, 1)) for variant in variants]
    outcomes = race(
        [
            lambda token=token: guest_checkout(
                token, voucher_code="ONCE", email="Same@Buyer.io"
            )
            for token in carts
        ]
    )
    assert Counter(
        type(o).__name__ if isinstance(o, Order) else o for o in outcomes
    ) == {
        "Order": 1,
        "VOUCHER_USED_UP": 7,
    }
