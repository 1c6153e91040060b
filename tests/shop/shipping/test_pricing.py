"""Shipping methods for a cart and a country, and a cart's totals
(shop.shipping.selectors, shop.orders.pricing) against the database."""

from decimal import Decimal

import pytest

from shop.core.errors import ErrorCode
from shop.orders.errors import OrderError
from shop.orders.pricing import CartItem, price_cart
from shop.shipping.models import ShippingMethod, ShippingZone
from shop.shipping.selectors import CartMeasure, quotes
from shop.taxes.models import TaxRate, tax_class

D = Decimal


@pytest.fixture
def shipping(db):
    domestic = ShippingZone.objects.create(name="UK", countries=["GB"])
    world = ShippingZone.objects.create(name="World", countries=["US", "UZ"])
    standard = ShippingMethod.objects.create(
        zone=domestic,
        name="Standard",
        price=D("4.99"),
        free_above=D("50.00"),
        minimum_delivery_days=2,
        maximum_delivery_days=4,
    )
    express = ShippingMethod.objects.create(
        zone=domestic, name="Express", price=D("9.99"), maximum_weight_grams=2000
    )
    overseas = ShippingMethod.objects.create(
        zone=world, name="International", price=D("15.00")
    )
    ShippingMethod.objects.create(
        zone=domestic, name="Retired", price=D("1.00"), is_active=False
    )
    reduced = tax_class("reduced")
    standard_class = tax_class("standard")
    TaxRate.objects.create(country="GB", tax_class=standard_class, rate=D("20"))
    TaxRate.objects.create(country="GB", tax_class=reduced, rate=D("5"))
    TaxRate.objects.create(country="UZ", tax_class=standard_class, rate=D("12"))
    return {
        "standard": standard,
        "express": express,
        "overseas": overseas,
        "reduced": reduced,
    }


def names(found) -> list[tuple[str, Decimal]]:
    return [(quote.method.name, quote.price) for quote in found]


def test_methods_ship_to_their_zone_s_countries_cheapest_first(shipping):
    assert names(quotes("gb", None)) == [
        ("Standard", D("4.99")),
        ("Express", D("9.99")),
    ]
    assert names(quotes("UZ", None)) == [("International", D("15.00"))]
    assert quotes("JP", None) == []


def test_a_cart_meets_the_conditions_and_thresholds_of_each_method(shipping):
    light = CartMeasure(subtotal=D("20.00"), weight_grams=500)
    heavy_and_big = CartMeasure(subtotal=D("50.00"), weight_grams=2001)
    assert names(quotes("GB", light)) == [
        ("Standard", D("4.99")),
        ("Express", D("9.99")),
    ]
    # free from 50.00 on; express takes at most 2 kg
    assert names(quotes("GB", heavy_and_big)) == [("Standard", D("0.00"))]


def items(*specs) -> list[CartItem]:
    return [
        CartItem(
            variant_id=index,
            unit_price=D(price),
            quantity=quantity,
            tax_class_id=tax_class,
            weight_grams=weight,
        )
        for index, (price, quantity, tax_class, weight) in enumerate(specs)
    ]


def test_a_cart_shipped_to_gb_pays_its_shelf_prices_and_the_shipping(shipping):
    cart = items(("12.00", 2, None, 300), ("10.00", 1, shipping["reduced"].pk, 100))
    priced = price_cart(
        cart,
        country="GB",
        shipping_method_id=shipping["express"].pk,
        require_method=True,
    )
    totals = priced.totals
    assert priced.method == shipping["express"]
    # 24.00 at 20% holds 4.00, 10.00 at 5% holds 0.48 (0.476), 9.99 at 20% 1.67
    assert [line.tax for line in totals.lines] == [D("4.00"), D("0.48")]
    assert (totals.subtotal, totals.shipping, totals.tax, totals.total) == (
        D("34.00"),
        D("9.99"),
        D("6.15"),
        D("43.99"),
    )


def test_prices_without_tax_get_the_destination_s_rates_added(shipping, settings):
    settings.PRICES_INCLUDE_TAX = False
    priced = price_cart(
        items(("100.00", 1, None, None)),
        country="UZ",
        shipping_method_id=shipping["overseas"].pk,
        require_method=True,
    )
    assert priced.totals.tax == D("13.80")  # 12% of 100.00 and of 15.00
    assert priced.totals.total == D("128.80")


def test_checkout_needs_a_method_where_one_ships_and_not_elsewhere(shipping):
    cart = items(("5.00", 1, None, None))
    with pytest.raises(OrderError) as refused:
        price_cart(cart, country="GB", shipping_method_id=None, require_method=True)
    assert (refused.value.code, refused.value.field) == (
        ErrorCode.REQUIRED,
        "shippingMethodId",
    )
    # an estimate without a method leaves shipping out
    estimate = price_cart(
        cart, country="GB", shipping_method_id=None, require_method=False
    )
    assert (estimate.totals.shipping, estimate.shipping_required) == (D("0.00"), True)
    # where nothing ships, the shop has not set shipping up: no charge, no method
    abroad = price_cart(
        cart, country="JP", shipping_method_id=None, require_method=True
    )
    assert (abroad.method, abroad.totals.total) == (None, D("5.00"))


@pytest.mark.parametrize("method", ["overseas", "express"])
def test_a_method_that_does_not_take_the_cart_there_is_refused(shipping, method):
    heavy = items(("5.00", 1, None, 5000))
    with pytest.raises(OrderError) as refused:
        price_cart(
            heavy,
            country="GB",
            shipping_method_id=shipping[method].pk,
            require_method=True,
        )
    assert refused.value.code == ErrorCode.SHIPPING_UNAVAILABLE


@pytest.mark.parametrize("country", ["", "XX", "Britain", None])
def test_a_country_must_be_an_iso_code(shipping, country):
    with pytest.raises(OrderError) as refused:
        price_cart([], country=country, shipping_method_id=None, require_method=False)
    assert (refused.value.code, refused.value.field) == (ErrorCode.INVALID, "country")
