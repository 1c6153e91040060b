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
    assert len(captured.captured_queries) == 5
