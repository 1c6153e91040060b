"""Query.shippingMethods and Cart.estimate."""

from decimal import Decimal

import pytest
from strawberry.relay import to_base64

from shop.shipping.models import ShippingMethod, ShippingZone
from shop.taxes.models import TaxRate, tax_class
from tests.factories import make_product
from tests.orders_helpers import guest_cart
from tests.schema.test_response_cache import committed, post

METHODS = """query($country: String!, $cartToken: String) {
  shippingMethods(country: $country, cartToken: $cartToken) {
    id name price { amount currency } minimumDeliveryDays maximumDeliveryDays
  }
}"""

ESTIMATE = """query($token: String, $country: String!, $method: ID) {
  cart(token: $token) {
    estimate(country: $country, shippingMethodId: $method) {
      subtotal { amount } discount { amount } shipping { amount }
      tax { amount } total { amount currency }
    }
  }
}"""


@pytest.fixture
def shop(db):
    uk = ShippingZone.objects.create(name="UK", countries=["GB"])
    standard = ShippingMethod.objects.create(
        zone=uk,
        name="Standard",
        price=Decimal("4.99"),
        free_above=Decimal("50.00"),
        minimum_delivery_days=2,
        maximum_delivery_days=4,
    )
    express = ShippingMethod.objects.create(
        zone=uk, name="Express", price=Decimal("9.99"), maximum_weight_grams=1000
    )
    TaxRate.objects.create(country="GB", tax_class=tax_class("standard"), rate=20)
    lamp = make_product(name="Lamp", variants=[{"price": "30.00", "weight_grams": 800}])
    return {"standard": standard, "express": express, "lamp": lamp.variants.get()}


def gid(method: ShippingMethod) -> str:
    return to_base64("ShippingMethod", method.pk)


def amounts(methods: list[dict]) -> list[tuple[str, str]]:
    return [(m["name"], m["price"]["amount"]) for m in methods]


def test_methods_to_a_country_cheapest_first(shop, gql):
    data = gql.ok(METHODS, {"country": "gb"})
    assert amounts(data["shippingMethods"]) == [
        ("Standard", "4.99"),
        ("Express", "9.99"),
    ]
    assert data["shippingMethods"][0]["minimumDeliveryDays"] == 2
    assert data["shippingMethods"][0]["id"] == gid(shop["standard"])
    assert gql.ok(METHODS, {"country": "JP"})["shippingMethods"] == []


def test_for_a_cart_only_what_takes_it_at_its_price_for_it(shop, gql):
    two = guest_cart((shop["lamp"], 2))  # 60.00, 1,600 g: free standard, no express
    data = gql.ok(METHODS, {"country": "GB", "cartToken": two})
    assert amounts(data["shippingMethods"]) == [("Standard", "0.00")]


def test_an_unknown_country_is_a_clear_error(shop, gql):
    result = gql(METHODS, {"country": "Narnia"})
    assert result.error_codes() == ["INVALID"]
    assert "ISO 3166" in result.errors[0]["message"]


def test_the_estimate_is_what_checkout_would_charge(shop, gql):
    token = guest_cart((shop["lamp"], 1))
    data = gql.ok(
        ESTIMATE,
        {"token": token, "country": "GB", "method": gid(shop["express"])},
    )
    # 30.00 holds 5.00 of tax at 20%, 9.99 of shipping 1.67 (1.665 half-up)
    assert data["cart"]["estimate"] == {
        "subtotal": {"amount": "30.00"},
        "discount": {"amount": "0.00"},
        "shipping": {"amount": "9.99"},
        "tax": {"amount": "6.67"},
        "total": {"amount": "39.99", "currency": "USD"},
    }
    without = gql.ok(ESTIMATE, {"token": token, "country": "GB"})
    assert without["cart"]["estimate"]["total"] == {
        "amount": "30.00",
        "currency": "USD",
    }


def test_a_method_that_does_not_take_the_cart_is_refused(shop, gql):
    token = guest_cart((shop["lamp"], 2))  # 1,600 g: over express's 1 kg
    result = gql(
        ESTIMATE, {"token": token, "country": "GB", "method": gid(shop["express"])}
    )
    assert result.error_codes() == ["SHIPPING_UNAVAILABLE"]
    bad_id = gql(ESTIMATE, {"token": token, "country": "GB", "method": "nope"})
    assert bad_id.error_codes() == ["INVALID"]


METHODS_TO = """query($country: String!) {
  shippingMethods(country: $country) { name price { amount } }
}"""


def test_methods_are_cached_without_a_cart_and_dropped_when_a_method_changes(shop):
    variables = {"country": "GB"}
    assert post(METHODS_TO, variables).x_cache == "MISS"
    assert post(METHODS_TO, variables).x_cache == "HIT"
    # a document that names a cart token is never cached (the cart is not the
    # catalog), even when the token is left out
    token = guest_cart((shop["lamp"], 1))
    with_cart = {"country": "GB", "cartToken": token}
    assert [post(METHODS, with_cart).x_cache for _ in range(2)] == [None, None]
    assert post(METHODS, variables).x_cache is None
    with committed():
        ShippingMethod.objects.filter(pk=shop["express"].pk).update(price="7.99")
    again = post(METHODS_TO, variables)
    assert again.x_cache == "MISS"
    assert amounts(again.json["data"]["shippingMethods"])[1] == ("Express", "7.99")


CHECKOUT = """mutation($input: CheckoutInput!) {
  checkout(input: $input) {
    order {
      subtotal { amount } discount { amount } shippingPrice { amount }
      tax { amount } total { amount } shippingMethodName
    }
    errors { field code message }
  }
}"""


def test_checkout_charges_what_the_estimate_showed(shop, gql):
    from tests.orders_helpers import ADDRESS_INPUT

    token = guest_cart((shop["lamp"], 1))
    estimate = gql.ok(
        ESTIMATE, {"token": token, "country": "GB", "method": gid(shop["express"])}
    )["cart"]["estimate"]
    base = {"shippingAddress": ADDRESS_INPUT, "cartToken": token, "email": "a@b.co"}

    missing = gql.ok(CHECKOUT, {"input": base})["checkout"]
    assert missing["order"] is None
    assert [(e["field"], e["code"]) for e in missing["errors"]] == [
        ("shippingMethodId", "REQUIRED")
    ]
    placed = gql.ok(
        CHECKOUT, {"input": {**base, "shippingMethodId": gid(shop["express"])}}
    )["checkout"]
    assert placed["errors"] == []
    order = placed["order"]
    assert order["total"]["amount"] == estimate["total"]["amount"] == "39.99"
    assert (order["shippingPrice"], order["tax"], order["shippingMethodName"]) == (
        {"amount": "9.99"},
        {"amount": "6.67"},
        "Express",
    )


def test_the_method_list_takes_one_query_however_long(shop, gql):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    uk = shop["standard"].zone
    for n in range(20):
        ShippingMethod.objects.create(zone=uk, name=f"Courier {n}", price=n)
    with CaptureQueriesContext(connection) as queries:
        data = gql.ok(METHODS, {"country": "GB"})
    assert len(data["shippingMethods"]) == 22
    assert len(queries) == 1
    token = guest_cart((shop["lamp"], 1))
    with CaptureQueriesContext(connection) as queries:
        gql.ok(METHODS, {"country": "GB", "cartToken": token})
    # the cart's published variants, the sales running now, their details, methods
    assert len(queries) == 4
