"""Checkout charges shipping and tax (shop.orders.pricing): the order keeps the
money as charged, refusals write nothing, and Stripe is asked for exactly the
order's total."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import models

from shop.cart.services import cart_get
from shop.catalog.models import ProductVariant
from shop.orders.errors import ErrorCode, OrderError
from shop.orders.models import Order
from shop.orders.pricing import cart_estimate
from shop.orders.totals import tax_of
from shop.payments.money import to_minor_units
from shop.shipping.models import ShippingMethod, ShippingZone
from shop.taxes.models import TaxRate, tax_class
from tests.factories import make_product
from tests.orders_helpers import ADDRESS, guest_cart, guest_checkout
from tests.payments_helpers import open_session

D = Decimal


@pytest.fixture
def shop(db):
    uk = ShippingZone.objects.create(name="UK", countries=["GB"])
    world = ShippingZone.objects.create(name="World", countries=["US"])
    standard = ShippingMethod.objects.create(
        zone=uk, name="Royal Mail", price=D("4.99"), free_above=D("100.00")
    )
    overseas = ShippingMethod.objects.create(
        zone=world, name="Airmail", price=D("15.00")
    )
    rate = TaxRate.objects.create(
        country="GB", tax_class=tax_class("standard"), rate=D("20")
    )
    book = make_product(
        name="Book",
        tax_class=tax_class("zero"),
        variants=[{"sku": "BOOK", "price": "7.99", "quantity_available": 5}],
    )
    lamp = make_product(
        name="Lamp",
        variants=[{"sku": "LAMP", "price": "30.00", "quantity_available": 5}],
    )
    return {
        "standard": standard,
        "overseas": overseas,
        "rate": rate,
        "book": book.variants.get(),
        "lamp": lamp.variants.get(),
    }


def test_the_order_keeps_the_money_it_was_charged(shop):
    token = guest_cart((shop["lamp"], 2), (shop["book"], 1))
    estimate = cart_estimate(
        cart_get(user=AnonymousUser(), token=token),
        country="GB",
        shipping_method_id=shop["standard"].pk,
    )
    order = guest_checkout(token, shipping_method_id=shop["standard"].pk)

    # 60.00 at 20% holds 10.00, the book none, 4.99 of shipping 0.83
    assert (order.subtotal, order.shipping_price, order.tax, order.total) == (
        D("67.99"),
        D("4.99"),
        D("10.83"),
        D("72.98"),
    )
    assert order.total == estimate.total
    assert order.shipping_method_name == "Royal Mail"
    assert order.prices_include_tax
    lines = {line.sku: (line.tax_rate, line.tax_amount) for line in order.lines.all()}
    assert lines == {"LAMP": (D("20"), D("10.00")), "BOOK": (D("0"), D("0.00"))}

    # Rates and methods change later; the order's money does not.
    TaxRate.objects.filter(pk=shop["rate"].pk).update(rate=D("25"))
    ShippingMethod.objects.filter(pk=shop["standard"].pk).update(price=D("9.99"))
    order.refresh_from_db()
    assert (order.tax, order.shipping_price, order.total) == (
        D("10.83"),
        D("4.99"),
        D("72.98"),
    )


def _nothing_written(shop, token) -> None:
    assert not Order.objects.exists()
    assert ProductVariant.objects.get(pk=shop["lamp"].pk).quantity_available == 5
    cart = cart_get(user=AnonymousUser(), token=token)
    assert cart.quantities == {shop["lamp"].pk: 1}  # the cart keeps its lines


def test_a_method_is_required_where_one_ships(shop):
    token = guest_cart((shop["lamp"], 1))
    with pytest.raises(OrderError) as refused:
        guest_checkout(token)
    assert (refused.value.code, refused.value.field) == (
        ErrorCode.REQUIRED,
        "shippingMethodId",
    )
    _nothing_written(shop, token)


def test_a_method_that_does_not_ship_there_is_refused_and_nothing_is_written(shop):
    token = guest_cart((shop["lamp"], 1))
    with pytest.raises(OrderError) as refused:
        guest_checkout(token, shipping_method_id=shop["overseas"].pk)  # GB address
    assert refused.value.code == ErrorCode.SHIPPING_UNAVAILABLE
    _nothing_written(shop, token)


def test_where_nothing_ships_the_order_has_no_shipping(shop):
    token = guest_cart((shop["lamp"], 1))
    japan = ADDRESS.__class__(**{**ADDRESS.__dict__, "country": "JP"})
    order = guest_checkout(token, address=japan)
    assert (order.shipping_method_name, order.shipping_price, order.total) == (
        "",
        D("0.00"),
        D("30.00"),
    )


@pytest.mark.parametrize("included", [True, False])
def test_stripe_is_asked_for_exactly_the_order_s_total(
    shop, stripe_fake, settings, included
):
    settings.PRICES_INCLUDE_TAX = included
    token = guest_cart((shop["lamp"], 1))
    order = guest_checkout(token, shipping_method_id=shop["standard"].pk)
    payment = open_session(order)

    session = stripe_fake.sessions[payment.stripe_checkout_session_id]
    assert session["amount_total"] == to_minor_units(order.total, "USD")
    assert session["_shipping_options"] == [
        {
            "shipping_rate_data": {
                "type": "fixed_amount",
                "display_name": "Royal Mail",
                "fixed_amount": {"amount": "499", "currency": "usd"},
            }
        }
    ]
    names = [
        item["price_data"]["product_data"]["name"] for item in session["_line_items"]
    ]
    names = [name.split(" (")[0] for name in names]
    if included:
        assert names == ["Lamp"]
        assert order.total == D("34.99")
    else:  # 20% added to 30.00 and to 4.99
        assert names == ["Lamp", "Tax"]
        assert (order.tax, order.total) == (D("7.00"), D("41.99"))


def test_the_confirmation_email_shows_the_breakdown(shop, settings):
    from django.core import mail

    from shop.orders.notifications import order_email_send

    order = guest_checkout(
        guest_cart((shop["lamp"], 1)), shipping_method_id=shop["standard"].pk
    )
    order_email_send(order_id=order.pk, kind="confirmation")
    [message] = mail.outbox
    for line in (
        "Subtotal: 30.00 USD",
        "Shipping (Royal Mail): 4.99 USD",
        "Tax included: 5.83 USD",
        "Total: 34.99 USD",
    ):
        assert line in message.body
    html = message.alternatives[0][0]
    assert "Shipping (Royal Mail)" in html
    assert "Tax included" in html

    from shop.orders.services import order_transition

    order_transition(order_id=order.pk, to_status="PAID")
    order_email_send(order_id=order.pk, kind="payment_received")
    received = mail.outbox[-1]
    assert "Shipping (Royal Mail): 4.99 USD" in received.body
    assert "Total: 34.99 USD" in received.body
    assert "tax included 5.83 USD" in received.alternatives[0][0]


@pytest.mark.parametrize("included", [True, False])
def test_over_random_carts_checkout_charges_the_estimate(shop, settings, included):
    """Random carts of products in three tax classes (prices with odd cents, so
    that taxes round): the estimate and the order agree to the cent, and the
    order's parts add up to its total."""
    import random

    settings.PRICES_INCLUDE_TAX = included
    reduced = tax_class("reduced")
    TaxRate.objects.create(country="GB", tax_class=reduced, rate=D("5"))
    rng = random.Random(23)
    classes = [None, reduced, tax_class("zero")]
    variants = [
        make_product(
            name=f"P{n}",
            tax_class=classes[n % 3],
            variants=[
                {
                    "price": f"{rng.randint(1, 9999) / 100:.2f}",
                    "quantity_available": 10_000,
                }
            ],
        ).variants.get()
        for n in range(9)
    ]
    for round_ in range(12):
        chosen = rng.sample(variants, rng.randint(1, 5))
        token = guest_cart(*((v, rng.randint(1, 7)) for v in chosen))
        estimate = cart_estimate(
            cart_get(user=AnonymousUser(), token=token),
            country="GB",
            shipping_method_id=shop["standard"].pk,
        )
        order = guest_checkout(
            token,
            shipping_method_id=shop["standard"].pk,
            idempotency_key=f"random-{round_}",
        )
        assert order.total == estimate.total, round_
        assert order.tax == estimate.tax
        parts = order.subtotal - order.discount + order.shipping_price
        assert order.total == (parts if included else parts + order.tax)
        assert order.tax == order.lines.aggregate(taxes=models.Sum("tax_amount"))[
            "taxes"
        ] + tax_of(order.shipping_price, D("20"), included=included, unit=D("0.01"))


def test_an_address_in_no_country_is_refused_on_its_field(shop):
    token = guest_cart((shop["lamp"], 1))
    nowhere = ADDRESS.__class__(**{**ADDRESS.__dict__, "country": "XX"})
    with pytest.raises(OrderError) as refused:
        guest_checkout(token, address=nowhere)
    assert (refused.value.code, refused.value.field) == (
        ErrorCode.INVALID,
        "shippingAddress.country",
    )
    _nothing_written(shop, token)
