"""Vouchers: every kind and condition, each refusal, the cart keeping its code,
checkout charging what the estimate showed, and uses counted and given back."""

import random
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from shop.cart.errors import CartError
from shop.cart.services import cart_get, cart_voucher_apply, cart_voucher_remove
from shop.catalog.models import Category
from shop.discounts.models import DiscountKind, Sale, Voucher, VoucherKind, VoucherUse
from shop.discounts.sales import sales_apply
from shop.orders.errors import OrderError
from shop.orders.models import Order, OrderStatus
from shop.orders.pricing import cart_estimate
from shop.orders.services import order_cancel, order_transition
from shop.orders.totals import allocate
from shop.payments.services import orders_expire
from shop.shipping.models import ShippingMethod, ShippingZone
from shop.taxes.models import TaxRate, tax_class
from tests.factories import UserFactory, make_product
from tests.orders_helpers import ADDRESS, guest_cart, guest_checkout, user_cart

D = Decimal
pytestmark = pytest.mark.django_db
GUEST = AnonymousUser()


@pytest.fixture
def shop(db):
    gadgets = Category.objects.create(name="Gadgets", slug="gadgets")
    lamps = Category.objects.create(name="Lamps", slug="lamps", parent=gadgets)
    uk = ShippingZone.objects.create(name="UK", countries=["GB"])
    post = ShippingMethod.objects.create(
        zone=uk, name="Post", price=D("5.00"), free_above=D("100.00")
    )
    TaxRate.objects.create(country="GB", tax_class=tax_class("standard"), rate=20)
    lamp = make_product(
        name="Lamp", category=lamps, variants=[{"sku": "LAMP", "price": "30.00"}]
    )
    book = make_product(name="Book", variants=[{"sku": "BOOK", "price": "10.00"}])
    return {
        "post": post,
        "gadgets": gadgets,
        "lamp": lamp.variants.get(),
        "book": book.variants.get(),
    }


def buy(shop, token, **kwargs) -> Order:
    """A guest checkout shipped by post (the shop ships to GB: a method is
    required)."""
    kwargs.setdefault("shipping_method_id", shop["post"].pk)
    return guest_checkout(token, **kwargs)


def voucher(code="SAVE", **fields) -> Voucher:
    fields.setdefault("kind", VoucherKind.PERCENTAGE)
    if fields["kind"] != VoucherKind.FREE_SHIPPING:
        fields.setdefault("value", D("10"))
    products = fields.pop("products", ())
    categories = fields.pop("categories", ())
    made = Voucher.objects.create(code=code, **fields)
    made.products.set(products)
    made.categories.set(categories)
    return made


def apply(token, code, *, user=GUEST, ip="203.0.113.9"):
    return cart_voucher_apply(user=user, token=token, code=code, client_ip=ip)


def refused(token, code, **kwargs) -> str:
    with pytest.raises(CartError) as caught:
        apply(token, code, **kwargs)
    assert caught.value.field == "code"
    return caught.value.code


def estimate(token, *, user=GUEST, method=None):
    return cart_estimate(
        cart_get(user=user, token=token),
        country="GB",
        shipping_method_id=method.pk if method else None,
    )


# ---------------------------------------------------------------- kinds


def test_a_percentage_of_the_whole_order_is_spread_over_the_lines(shop):
    token = guest_cart((shop["lamp"], 1), (shop["book"], 2))
    voucher("save", value=D("10"))
    assert apply(token, " save ").voucher_code == "SAVE"  # any case, trimmed
    totals = estimate(token, method=shop["post"])
    # 50.00 at 10% = 5.00: 3.00 on the lamp (30.00), 2.00 on the books (20.00)
    assert (totals.subtotal, totals.discount, totals.shipping) == (
        D("50.00"),
        D("5.00"),
        D("5.00"),
    )
    assert {line.key: line.discount for line in totals.lines} == {
        shop["lamp"].pk: D("3.00"),
        shop["book"].pk: D("2.00"),
    }
    assert totals.total == D("50.00")  # 50 - 5 + 5 (tax included)
    order = buy(shop, token, shipping_method_id=shop["post"].pk)
    assert (order.discount, order.total, order.voucher_code) == (
        D("5.00"),
        totals.total,
        "SAVE",
    )
    assert {line.sku: line.discount for line in order.lines.all()} == {
        "LAMP": D("3.00"),
        "BOOK": D("2.00"),
    }
    # Tax per line on what is left: 27.00 holds 4.50, 18.00 holds 3.00, shipping 0.83
    assert order.tax == D("8.33")


def test_a_fixed_amount_never_takes_more_than_the_lines(shop):
    token = guest_cart((shop["book"], 1))
    voucher(kind=VoucherKind.FIXED, value=D("25.00"))
    apply(token, "SAVE")
    totals = estimate(token)
    assert (totals.discount, totals.total) == (D("10.00"), D("0.00"))


def test_free_shipping_makes_shipping_nothing_and_leaves_the_lines(shop):
    token = guest_cart((shop["book"], 1))
    voucher(kind=VoucherKind.FREE_SHIPPING)
    apply(token, "SAVE")
    totals = estimate(token, method=shop["post"])
    assert (totals.discount, totals.shipping, totals.total) == (
        D("0.00"),
        D("0.00"),
        D("10.00"),
    )
    order = buy(shop, token, shipping_method_id=shop["post"].pk)
    assert (order.shipping_price, order.total) == (D("0.00"), D("10.00"))


def test_a_voucher_for_a_category_takes_off_its_descendants_lines_only(shop):
    token = guest_cart((shop["lamp"], 1), (shop["book"], 1))
    voucher(categories=[shop["gadgets"]], value=D("50"))
    apply(token, "SAVE")
    totals = estimate(token)
    assert {line.key: line.discount for line in totals.lines} == {
        shop["lamp"].pk: D("15.00"),
        shop["book"].pk: D("0.00"),
    }


def test_a_voucher_for_products_takes_off_their_lines_only(shop):
    token = guest_cart((shop["lamp"], 1), (shop["book"], 1))
    voucher(products=[shop["book"].product], kind=VoucherKind.FIXED, value=D("4.00"))
    apply(token, "SAVE")
    assert estimate(token).discount == D("4.00")
    only_lamp = guest_cart((shop["lamp"], 1))
    assert refused(only_lamp, "SAVE") == "VOUCHER_NOT_APPLICABLE"


def test_items_on_sale_are_left_out_unless_the_voucher_says(shop):
    sale = Sale.objects.create(name="Lamps", kind=DiscountKind.PERCENTAGE, value=20)
    sale.products.add(shop["lamp"].product)
    sales_apply()
    token = guest_cart((shop["lamp"], 1), (shop["book"], 1))
    strict = voucher("STRICT", value=D("10"))
    apply(token, "STRICT")
    # the lamp (24.00 on sale) is left out: 10% of the book only
    assert estimate(token).discount == D("1.00")
    strict.applies_to_sale_items = True
    strict.save()
    assert estimate(token).discount == D("3.40")  # 10% of 24.00 + 10.00
    only_lamp = guest_cart((shop["lamp"], 1))
    voucher("OTHER", value=D("10"))
    assert refused(only_lamp, "OTHER") == "VOUCHER_NOT_APPLICABLE"


# ---------------------------------------------------------------- refusals


def test_an_unknown_an_inactive_and_a_future_code_are_refused_alike(shop):
    token = guest_cart((shop["book"], 1))
    voucher("OFF", is_active=False)
    voucher("SOON", starts_at=timezone.now() + timedelta(hours=1))
    outcomes = set()
    for code in ("NOPE", "OFF", "SOON", ""):
        with pytest.raises(CartError) as caught:
            apply(token, code)
        outcomes.add((caught.value.code, caught.value.message))
    assert outcomes == {("VOUCHER_INVALID", "This code is not valid.")}
    assert cart_get(user=GUEST, token=token).voucher_code == ""


def test_an_ended_code_is_expired(shop):
    token = guest_cart((shop["book"], 1))
    voucher(ends_at=timezone.now() - timedelta(seconds=1))
    assert refused(token, "SAVE") == "VOUCHER_EXPIRED"


def test_minimum_subtotal_and_quantity(shop):
    token = guest_cart((shop["book"], 2))
    voucher("SPEND", minimum_subtotal=D("20.01"))
    voucher("THREE", minimum_quantity=3)
    assert refused(token, "SPEND") == "VOUCHER_NOT_APPLICABLE"
    assert refused(token, "THREE") == "VOUCHER_NOT_APPLICABLE"
    token = guest_cart((shop["book"], 3))
    apply(token, "SPEND")
    apply(token, "THREE")


def test_a_used_up_code_says_so_without_naming_anyone(shop):
    voucher(usage_limit=1)
    buy(shop, guest_cart((shop["book"], 1)), voucher_code="save")
    token = guest_cart((shop["book"], 1))
    with pytest.raises(CartError) as total:
        apply(token, "SAVE")
    limited = voucher("ONCE", per_customer_limit=1)
    user = UserFactory(email="Ada@Example.com")
    user_cart(user, (shop["book"], 1))
    apply(None, "ONCE", user=user)
    from shop.orders.services import checkout_complete

    checkout_complete(
        user=user,
        cart_token=None,
        email=None,
        address=ADDRESS,
        shipping_method_id=shop["post"].pk,
    )
    user_cart(user, (shop["book"], 1))
    with pytest.raises(CartError) as own:
        apply(None, "ONCE", user=user)
    assert (total.value.code, total.value.message) == (
        own.value.code,
        own.value.message,
    )
    assert own.value.code == "VOUCHER_USED_UP"
    assert limited.uses.count() == 1


def test_the_per_customer_limit_counts_a_guest_s_email_in_any_case(shop):
    voucher(per_customer_limit=1)
    buy(shop, guest_cart((shop["book"], 1)), voucher_code="SAVE", email="a@x.io")
    with pytest.raises(OrderError) as caught:
        buy(shop, guest_cart((shop["book"], 1)), voucher_code="save", email="A@X.IO")
    assert (caught.value.code, caught.value.field) == ("VOUCHER_USED_UP", "voucherCode")
    # someone else may
    buy(shop, guest_cart((shop["book"], 1)), voucher_code="SAVE", email="b@x.io")
    assert Order.objects.count() == 2


def test_a_refused_voucher_at_checkout_writes_nothing(shop):
    voucher(minimum_subtotal=D("100"))
    token = guest_cart((shop["book"], 2))
    with pytest.raises(OrderError) as caught:
        buy(shop, token, voucher_code="SAVE")
    assert caught.value.code == "VOUCHER_NOT_APPLICABLE"
    assert Order.objects.count() == 0
    assert VoucherUse.objects.count() == 0
    assert Voucher.objects.get().used == 0
    shop["book"].refresh_from_db()
    assert shop["book"].quantity_available == 5
    assert cart_get(user=GUEST, token=token).quantities == {shop["book"].pk: 2}


# ---------------------------------------------------------------- the cart's code


def test_the_cart_keeps_its_code_until_removed_or_used(
    shop, django_capture_on_commit_callbacks
):
    voucher()
    token = guest_cart((shop["book"], 1))
    apply(token, "save")
    assert cart_get(user=GUEST, token=token).voucher_code == "SAVE"
    assert cart_voucher_remove(user=GUEST, token=token).voucher_code == ""
    assert estimate(token).discount == D("0.00")
    apply(token, "SAVE")
    with django_capture_on_commit_callbacks(execute=True):
        order = buy(shop, token)  # the cart's voucher by default
    assert order.voucher_code == "SAVE"
    assert cart_get(user=GUEST, token=token).voucher_code == ""  # used: dropped
    # "" at checkout means none
    token = guest_cart((shop["book"], 1))
    apply(token, "SAVE")
    assert buy(shop, token, voucher_code="").voucher_code == ""


def test_a_code_that_stops_applying_counts_nothing_and_checkout_says_why(shop):
    code = voucher(minimum_quantity=2)
    token = guest_cart((shop["book"], 2))
    apply(token, "SAVE")
    assert estimate(token).discount == D("2.00")
    code.minimum_quantity = 3
    code.save()
    assert cart_get(user=GUEST, token=token).voucher_code == "SAVE"
    assert estimate(token).discount == D("0.00")
    with pytest.raises(OrderError) as caught:
        buy(shop, token)
    assert caught.value.code == "VOUCHER_NOT_APPLICABLE"


def test_signing_in_keeps_the_guest_s_code(shop):
    from shop.cart.services import cart_merge

    voucher()
    token = guest_cart((shop["book"], 1))
    apply(token, "SAVE")
    user = UserFactory()
    cart_merge(user=user, token=token)
    assert cart_get(user=user, token=None).voucher_code == "SAVE"


def test_guessing_codes_is_throttled_even_for_a_valid_one(shop, settings):
    settings.VOUCHER_FAILURES_PER_CART = 3
    voucher("REAL")
    token = guest_cart((shop["book"], 1))
    apply(token, "REAL")  # a good code does not count
    for n in range(3):
        assert refused(token, f"GUESS{n}") == "VOUCHER_INVALID"
    assert refused(token, "REAL") == "THROTTLED"
    # another cart from another address is not held back
    other = guest_cart((shop["book"], 1))
    apply(other, "REAL", ip="198.51.100.7")


def test_guessing_from_one_address_is_throttled_across_carts(shop, settings):
    settings.VOUCHER_FAILURES_PER_IP = 4
    voucher("REAL")
    for n in range(4):
        assert refused(guest_cart((shop["book"], 1)), f"GUESS{n}") == "VOUCHER_INVALID"
    assert refused(guest_cart((shop["book"], 1)), "REAL") == "THROTTLED"


# ---------------------------------------------------------------- uses


def test_a_cancelled_unpaid_order_gives_its_use_back(shop):
    code = voucher(usage_limit=1)
    user = UserFactory()
    user_cart(user, (shop["book"], 1))
    from shop.orders.services import checkout_complete

    order = checkout_complete(
        user=user,
        cart_token=None,
        email=None,
        address=ADDRESS,
        voucher_code="SAVE",
        shipping_method_id=shop["post"].pk,
    )
    code.refresh_from_db()
    assert code.used == 1
    order_cancel(user=user, order_id=order.pk)
    code.refresh_from_db()
    assert (code.used, code.uses.count()) == (0, 0)
    buy(shop, guest_cart((shop["book"], 1)), voucher_code="SAVE")


def test_an_expired_unpaid_order_gives_its_use_back(shop):
    code = voucher(usage_limit=1)
    order = buy(shop, guest_cart((shop["book"], 1)), voucher_code="SAVE")
    Order.objects.filter(pk=order.pk).update(
        reserved_until=timezone.now() - timedelta(minutes=1)
    )
    assert orders_expire() == [order.pk]
    code.refresh_from_db()
    assert code.used == 0


def test_a_paid_order_keeps_its_use_also_when_refunded(shop):
    code = voucher(usage_limit=1)
    order = buy(shop, guest_cart((shop["book"], 1)), voucher_code="SAVE")
    order_transition(order_id=order.pk, to_status=OrderStatus.PAID)
    order_transition(order_id=order.pk, to_status=OrderStatus.REFUNDED)
    code.refresh_from_db()
    assert (code.used, code.uses.count()) == (1, 1)
    with pytest.raises(OrderError) as caught:
        buy(shop, guest_cart((shop["book"], 1)), voucher_code="SAVE")
    assert caught.value.code == "VOUCHER_USED_UP"


def test_an_order_revived_by_a_late_payment_takes_its_use_again(shop):
    code = voucher(usage_limit=1)
    order = buy(shop, guest_cart((shop["book"], 1)), voucher_code="SAVE")
    Order.objects.filter(pk=order.pk).update(
        reserved_until=timezone.now() - timedelta(minutes=1)
    )
    orders_expire()
    buy(shop, guest_cart((shop["book"], 1)), voucher_code="SAVE")  # the freed use
    order_transition(
        order_id=order.pk, to_status=OrderStatus.PAID, payment_received=True
    )
    code.refresh_from_db()
    assert (code.used, code.uses.count()) == (2, 2)  # over the limit: the money is in


# ---------------------------------------------------------------- allocation


@hsettings(max_examples=300, deadline=None)
@given(
    amounts=st.lists(
        st.integers(min_value=0, max_value=10**7), min_size=1, max_size=12
    ),
    discount=st.integers(min_value=0, max_value=2 * 10**7),
)
def test_allocation_adds_up_and_never_goes_below_zero(amounts, discount):
    cents = [D(a) / 100 for a in amounts]
    parts = allocate(D(discount) / 100, cents, "USD")
    assert sum(parts) == min(D(discount) / 100, sum(cents))
    assert all(
        D(0) <= part <= amount for part, amount in zip(parts, cents, strict=True)
    )


def test_over_random_carts_and_vouchers_the_order_charges_the_estimate(shop, settings):
    """Random carts, vouchers and tax settings: the estimate and the order agree
    to the cent, the lines' discounts add up to the order's, and no line pays
    less than nothing."""
    rng = random.Random(25)
    variants = [
        make_product(
            name=f"P{n}",
            variants=[
                {
                    "price": f"{rng.randint(1, 9999) / 100:.2f}",
                    "quantity_available": 10_000,
                }
            ],
        ).variants.get()
        for n in range(6)
    ]
    for round_ in range(16):
        settings.PRICES_INCLUDE_TAX = rng.random() < 0.5
        kind = rng.choice([VoucherKind.PERCENTAGE, VoucherKind.FIXED])
        value = (
            D(rng.randint(1, 100)) if kind == VoucherKind.PERCENTAGE
            else D(rng.randint(1, 20000)) / 100
        )  # fmt: skip
        code = voucher(f"R{round_}", kind=kind, value=value)
        token = guest_cart(*((v, rng.randint(1, 5)) for v in rng.sample(variants, 3)))
        apply(token, code.code, ip=f"10.0.0.{round_}")
        shown = estimate(token, method=shop["post"])
        order = buy(shop, token, shipping_method_id=shop["post"].pk)
        assert (order.total, order.discount, order.tax) == (
            shown.total,
            shown.discount,
            shown.tax,
        ), round_
        lines = list(order.lines.all())
        assert sum(line.discount for line in lines) == order.discount
        assert all(
            D(0) <= line.discount <= line.unit_price * line.quantity for line in lines
        )
        parts = order.subtotal - order.discount + order.shipping_price
        assert order.total == (parts if order.prices_include_tax else parts + order.tax)


# ---------------------------------------------------------------- Stripe


@pytest.mark.parametrize("included", [True, False])
def test_stripe_charges_the_discounted_lines_to_the_cent(
    shop, stripe_fake, settings, included
):
    """3 books at 10.00 less a 0.50 share of the voucher: 29.50 does not divide
    by 3, so Stripe gets 2 x 9.83 and 1 x 9.84; amount_total is the order's."""
    from shop.payments.money import to_minor_units
    from tests.payments_helpers import open_session

    settings.PRICES_INCLUDE_TAX = included
    voucher(kind=VoucherKind.FIXED, value=D("0.50"))
    order = buy(shop, guest_cart((shop["book"], 3)), voucher_code="SAVE")
    session = stripe_fake.sessions[open_session(order).stripe_checkout_session_id]
    assert session["amount_total"] == to_minor_units(order.total, "USD")
    books = [
        (int(item["quantity"]), int(item["price_data"]["unit_amount"]))
        for item in session["_line_items"]
        if item["price_data"]["product_data"]["name"].startswith("Book")
    ]
    assert books == [(2, 983), (1, 984)]
    assert order.discount == D("0.50")


def test_a_plus_tag_does_not_make_another_customer(shop):
    voucher(per_customer_limit=1)
    buy(shop, guest_cart((shop["book"], 1)), voucher_code="SAVE", email="ada@x.io")
    with pytest.raises(OrderError) as caught:
        buy(
            shop,
            guest_cart((shop["book"], 1)),
            voucher_code="SAVE",
            email="Ada+second@X.io",
        )
    assert caught.value.code == "VOUCHER_USED_UP"


def test_the_confirmation_email_names_the_voucher_and_its_discount(shop):
    from django.core import mail

    from shop.orders.notifications import order_email_send

    voucher(value=D("10"))
    order = buy(shop, guest_cart((shop["lamp"], 1)), voucher_code="SAVE")
    order_email_send(order_id=order.pk, kind="confirmation")
    [message] = mail.outbox
    assert "Discount (SAVE): -3.00 USD" in message.body
    assert "Discount (SAVE)" in message.alternatives[0][0]


@pytest.mark.parametrize("code", ["\x00", "SAVE\x00", "A" * 5000, "\ud800", "\t"])
def test_a_code_no_voucher_can_have_is_refused_as_invalid(shop, code):
    voucher()
    token = guest_cart((shop["book"], 1))
    assert refused(token, code) == "VOUCHER_INVALID"
    with pytest.raises(OrderError) as caught:
        buy(shop, token, voucher_code=code)
    assert caught.value.code == "VOUCHER_INVALID"


def test_with_the_counters_down_and_fail_closed_the_cart_says_unavailable(
    shop, settings, monkeypatch
):
    from redis.exceptions import ConnectionError as RedisDown

    from shop.cart.errors import CartUnavailable
    from shop.core import throttle

    settings.THROTTLE_FAIL_OPEN = False
    voucher()
    token = guest_cart((shop["book"], 1))

    def down(*args, **kwargs):
        raise RedisDown("down")

    monkeypatch.setattr(throttle, "get_redis_connection", lambda alias: type(
        "Down", (), {"eval": staticmethod(down)}
    )())  # fmt: skip
    with pytest.raises(CartUnavailable):
        apply(token, "SAVE")
    assert cart_get(user=GUEST, token=token).voucher_code == ""
