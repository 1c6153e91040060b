"""Sales: which one a variant gets, when, and the catalog following at each
boundary (the plain path from the sales, the fast path in the variants' columns,
held equal)."""

import random
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from shop.cart.services import cart_get
from shop.catalog.models import Category, Product, ProductVariant
from shop.discounts.models import DiscountKind, Sale
from shop.discounts.sales import (
    VariantRow,
    discounted,
    running_sales,
    sale_price_of,
    sale_prices,
    sales_apply,
    sales_apply_if_due,
)
from tests.factories import make_product
from tests.orders_helpers import guest_cart, guest_checkout

D = Decimal
pytestmark = pytest.mark.django_db


def _sale(*, value="20", kind=DiscountKind.PERCENTAGE, products=(), categories=(),
          variants=(), starts=None, ends=None, active=True) -> Sale:  # fmt: skip
    sale = Sale.objects.create(
        name=f"{value} {kind}",
        kind=kind,
        value=D(value),
        starts_at=starts,
        ends_at=ends,
        is_active=active,
    )
    sale.products.set(products)
    sale.categories.set(categories)
    sale.variants.set(variants)
    return sale


def _variant(price="100.00", **fields) -> ProductVariant:
    return make_product(variants=[{"price": price}], **fields).variants.get()


def _stored(variant) -> tuple:
    variant = ProductVariant.objects.get(pk=variant.pk)
    product = Product.objects.get(pk=variant.product_id)
    return variant.sale_price, variant.current_price, product.price_min


def test_a_sale_applies_only_within_its_window():
    now = timezone.now()
    variant = _variant()
    _sale(products=[variant.product], starts=now, ends=now + timedelta(hours=1))

    before, during, after = (
        now - timedelta(seconds=1),
        now + timedelta(minutes=30),
        now + timedelta(hours=1),
    )
    row = VariantRow(variant.pk, variant.product_id, None, D("100.00"))
    assert sale_price_of(row, running_sales(before)) is None
    assert sale_price_of(row, running_sales(during)) == D("80.00")
    assert sale_price_of(row, running_sales(after)) is None  # the end is exclusive

    sales_apply(before)
    assert _stored(variant) == (None, D("100.00"), D("100.00"))
    sales_apply(during)
    assert _stored(variant) == (D("80.00"), D("80.00"), D("80.00"))
    sales_apply(after)
    assert _stored(variant) == (None, D("100.00"), D("100.00"))


def test_an_inactive_sale_applies_never():
    variant = _variant()
    _sale(products=[variant.product], active=False)
    sales_apply()
    assert _stored(variant)[0] is None


def test_the_best_of_two_sales_applies_and_they_do_not_stack():
    cheap = _variant("20.00")
    dear = _variant("200.00")
    _sale(value="10", products=[cheap.product, dear.product])  # 10%
    _sale(value="5.00", kind=DiscountKind.FIXED, products=[cheap.product, dear.product])
    sales_apply()
    # 20.00: 10% -> 18.00, 5 off -> 15.00; 200.00: 10% -> 180.00, 5 off -> 195.00
    assert _stored(cheap)[0] == D("15.00")
    assert _stored(dear)[0] == D("180.00")


def test_a_category_sale_covers_its_descendants_only():
    clothing = Category.objects.create(name="Clothing", slug="clothing")
    tops = Category.objects.create(name="Tops", slug="tops", parent=clothing)
    shirts = Category.objects.create(name="Shirts", slug="shirts", parent=tops)
    shoes = Category.objects.create(name="Shoes", slug="shoes")
    in_shirts = _variant(category=shirts)
    in_clothing = _variant(category=clothing)
    in_shoes = _variant(category=shoes)
    no_category = _variant()
    _sale(categories=[tops])
    sales_apply()
    assert _stored(in_shirts)[0] == D("80.00")
    assert _stored(in_clothing)[0] is None
    assert _stored(in_shoes)[0] is None
    assert _stored(no_category)[0] is None


def test_a_variant_sale_covers_that_variant_only():
    product = make_product(variants=[{"price": "10.00"}, {"price": "12.00"}])
    first, second = product.variants.order_by("pk")
    _sale(value="50", variants=[first])
    sales_apply()
    assert _stored(first)[0] == D("5.00")
    assert _stored(second)[0] is None
    assert Product.objects.get(pk=product.pk).price_min == D("5.00")
    assert Product.objects.get(pk=product.pk).price_max == D("12.00")


@pytest.mark.parametrize(
    ("price", "kind", "value", "expected"),
    [
        ("19.99", DiscountKind.PERCENTAGE, "20", "15.99"),  # 15.992
        ("0.05", DiscountKind.PERCENTAGE, "50", "0.03"),  # 0.025 half-up
        ("10.00", DiscountKind.PERCENTAGE, "100", "0.00"),
        ("10.00", DiscountKind.FIXED, "25.00", "0.00"),  # never below 0
        ("10.00", DiscountKind.FIXED, "2.50", "7.50"),
    ],
)
def test_sale_prices_round_half_up_and_stop_at_zero(price, kind, value, expected):
    assert discounted(D(price), kind, D(value), D("0.01")) == D(expected)


def test_a_price_change_under_a_sale_moves_the_sale_price():
    from shop.catalog.services import product_denormalised_refresh

    variant = _variant()
    _sale(products=[variant.product])
    sales_apply()
    variant.price = D("50.00")
    variant.save()
    product_denormalised_refresh(product_ids=[variant.product_id])
    assert _stored(variant) == (D("40.00"), D("40.00"), D("40.00"))


def test_the_cart_and_checkout_pay_the_sale_price_of_the_moment():
    """Money follows the sales themselves: a sale that ended a second ago is not
    charged, even before any task applied its end to the catalog."""
    now = timezone.now()
    variant = _variant()
    sale = _sale(products=[variant.product], ends=now + timedelta(hours=1))
    sales_apply()
    token = guest_cart((variant, 2))
    assert cart_get(user=AnonymousUser(), token=token).prices[variant.pk] == D("80.00")

    Sale.objects.filter(pk=sale.pk).update(ends_at=now - timedelta(seconds=1))
    assert _stored(variant)[0] == D("80.00")  # not applied yet
    assert cart_get(user=AnonymousUser(), token=token).prices[variant.pk] == D("100.00")
    order = guest_checkout(token)
    assert order.subtotal == D("200.00")
    assert order.lines.get().unit_price == D("100.00")


def test_checkout_charges_the_sale_price():
    variant = _variant()
    _sale(products=[variant.product])
    order = guest_checkout(guest_cart((variant, 3)))
    line = order.lines.get()
    assert (line.unit_price, order.subtotal) == (D("80.00"), D("240.00"))


def test_applying_is_due_only_after_a_boundary_or_a_change():
    now = timezone.now()
    variant = _variant()
    sales_apply(now)
    assert sales_apply_if_due(now + timedelta(minutes=1)) is None
    _sale(products=[variant.product], starts=now + timedelta(minutes=5))
    # A new sale (edited since) is due at once, though it changes nothing yet.
    assert sales_apply_if_due(now + timedelta(minutes=1)) == 0
    assert sales_apply_if_due(now + timedelta(minutes=2)) is None
    assert sales_apply_if_due(now + timedelta(minutes=6)) == 1
    assert _stored(variant)[0] == D("80.00")


def test_the_stored_sale_prices_equal_the_rule_over_random_sales():
    """The fast path (stored columns, price ranges) equals the plain path (the
    rule over the sales) for random catalogs, sales and moments."""
    rng = random.Random(7)
    now = timezone.now()
    root = Category.objects.create(name="Root", slug="root")
    categories = [root]
    for n in range(5):
        categories.append(
            Category.objects.create(
                name=f"C{n}", slug=f"c{n}", parent=rng.choice(categories)
            )
        )
    products = [
        make_product(
            category=rng.choice(categories + [None]),
            variants=[
                {"price": f"{rng.randint(1, 50000) / 100:.2f}"}
                for _ in range(rng.randint(1, 3))
            ],
        )
        for _ in range(12)
    ]
    variants = list(ProductVariant.objects.all())
    for _ in range(6):
        kind = rng.choice(list(DiscountKind))
        value = (
            rng.randint(1, 90)
            if kind == DiscountKind.PERCENTAGE
            else rng.randint(1, 100)
        )
        offset = timedelta(minutes=rng.randint(-60, 60))
        _sale(
            value=str(value),
            kind=kind,
            products=rng.sample(products, rng.randint(0, 3)),
            categories=rng.sample(categories, rng.randint(0, 2)),
            variants=rng.sample(variants, rng.randint(0, 3)),
            starts=now + offset if rng.random() < 0.5 else None,
            ends=now + offset + timedelta(minutes=30) if rng.random() < 0.5 else None,
        )
    for minutes in (-90, -30, 0, 10, 45, 120):
        at = now + timedelta(minutes=minutes)
        sales_apply(at)
        rows = [
            VariantRow(v.pk, v.product_id, v.product.category_id, v.price)
            for v in ProductVariant.objects.select_related("product")
        ]
        expected = sale_prices(rows, running_sales(at))
        stored = dict(ProductVariant.objects.values_list("pk", "sale_price"))
        assert stored == expected, minutes
        for product in Product.objects.prefetch_related("variants"):
            paid = [v.current_price for v in product.variants.all()]
            assert (product.price_min, product.price_max) == (min(paid), max(paid))


@hsettings(max_examples=200, deadline=None)
@given(
    price=st.integers(min_value=0, max_value=10**9),
    percent=st.integers(min_value=1, max_value=100),
    amount=st.integers(min_value=1, max_value=10**9),
)
def test_a_sale_never_raises_a_price_nor_goes_below_zero(price, percent, amount):
    cents = D(price) / 100
    for kind, value in (
        (DiscountKind.PERCENTAGE, D(percent)),
        (DiscountKind.FIXED, D(amount) / 100),
    ):
        cut = discounted(cents, kind, value, D("0.01"))
        assert D(0) <= cut <= cents
        assert cut == cut.quantize(D("0.01"))
