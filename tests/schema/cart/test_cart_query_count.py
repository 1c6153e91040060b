"""A cart of 50 lines reads in as many SQL queries as a cart of 3."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from strawberry.relay import to_base64

from tests.factories import make_product

CART = """query($token: String) { cart(token: $token) {
  totalQuantity subtotal { amount }
  lines { quantity total { amount }
    ...Line
    other: variant { sku }
  } } }
fragment Line on CartLine {
  variant { sku name price { amount } quantityAvailable
    attributes { attribute { slug } value { name } }
    product { name slug inStock priceRange { min { amount } }
      attributes { attribute { name } value { name } }
      category { slug } } } }
"""
ADD = """mutation($lines: [CartLineInput!]!) {
  cartLinesAdd(lines: $lines) { cart { token } errors { code } } }"""


@pytest.mark.parametrize("size", [3, 50])
def test_cart_read_costs_a_fixed_number_of_queries(gql, size):
    lines = []
    for n in range(size):
        product = make_product(
            name=f"Item {n}",
            attributes={"brand": f"Brand {n % 3}"},
            variants=[{"price": 10 + n, "color": f"Color {n % 4}"}],
        )
        lines.append(
            {
                "variantId": to_base64("ProductVariant", product.variants.get().pk),
                "quantity": 1,
            }
        )
    token = gql.ok(ADD, {"lines": lines})["cartLinesAdd"]["cart"]["token"]
    with CaptureQueriesContext(connection) as captured:
        cart = gql.ok(CART, {"token": token})["cart"]
    assert len(cart["lines"]) == size
    assert cart["lines"][0]["variant"]["product"]["attributes"][0]["attribute"] == {
        "name": "Brand"
    }
    assert cart["lines"][0]["other"]["sku"] == cart["lines"][0]["variant"]["sku"]
    # One of them reads the sales running now (the prices the buyer pays).
    assert len(captured.captured_queries) == 6


UPDATE = """mutation($token: String, $lines: [CartLineInput!]!) {
  cartLinesUpdate(token: $token, lines: $lines) {
    cart { totalQuantity subtotal { amount } } errors { code } } }"""
ADD_TO = """mutation($token: String, $lines: [CartLineInput!]!) {
  cartLinesAdd(token: $token, lines: $lines) {
    cart { totalQuantity subtotal { amount } } errors { code } } }"""


def test_a_cart_write_reads_its_variants_once(gql):
    """The lines' variants are read once, for the stock check and the totals;
    only the cart's other variants are read with them."""
    ids = [
        to_base64(
            "ProductVariant",
            make_product(name=f"Item {n}", variants=[{"price": 10 + n}])
            .variants.get()
            .pk,
        )
        for n in range(3)
    ]
    token = gql.ok(ADD, {"lines": [{"variantId": ids[0], "quantity": 1}]})[
        "cartLinesAdd"
    ]["cart"]["token"]

    with CaptureQueriesContext(connection) as added:
        cart = gql.ok(
            ADD_TO, {"token": token, "lines": [{"variantId": ids[0], "quantity": 2}]}
        )["cartLinesAdd"]["cart"]
    assert cart == {"totalQuantity": 3, "subtotal": {"amount": "30.00"}}
    # The variants, and the sales running now.
    assert len(added.captured_queries) == 2

    with CaptureQueriesContext(connection) as updated:
        cart = gql.ok(
            UPDATE, {"token": token, "lines": [{"variantId": ids[1], "quantity": 2}]}
        )["cartLinesUpdate"]["cart"]
    # ids[0] was in the cart already: read with the totals, a second query; the
    # sales running now, a third.
    assert cart == {"totalQuantity": 5, "subtotal": {"amount": "52.00"}}
    assert len(updated.captured_queries) == 3
