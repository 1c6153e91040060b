"""Sales and vouchers through the graph: compareAtPrice, price filters and sorting
at the prices paid, cartVoucherApply / cartVoucherRemove, checkout's voucherCode."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from shop.catalog.models import Category
from shop.discounts.models import DiscountKind, Sale, Voucher, VoucherKind
from shop.discounts.sales import sales_apply
from tests.factories import make_product
from tests.orders_helpers import ADDRESS_INPUT

VARIANTS = """query($slug: String!) {
  product(slug: $slug) {
    priceRange { min { amount } max { amount } }
    variants { sku price { amount } compareAtPrice { amount currency } }
  }
}"""

LIST = """query($filters: ProductFilter, $ordering: [ProductOrder!]) {
  products(first: 20, filters: $filters, ordering: $ordering) {
    edges { node { slug priceRange { min { amount } } } }
  }
}"""

CART = """fragment C on Cart {
  token voucherCode
  lines { variant { sku price { amount } compareAtPrice { amount } } total { amount } }
  estimate(country: "US") { subtotal { amount } discount { amount } total { amount } }
}"""
ADD = (
    CART
    + """mutation($lines: [CartLineInput!]!) {
  cartLinesAdd(lines: $lines) { cart { ...C } errors { field code message } } }"""
)
APPLY = (
    CART
    + """mutation($token: String, $code: String!) {
  cartVoucherApply(token: $token, code: $code) {
    cart { ...C } errors { field code message } } }"""
)
REMOVE = (
    CART
    + """mutation($token: String) {
  cartVoucherRemove(token: $token) { cart { ...C } errors { field code message } } }"""
)
CHECKOUT = """mutation($input: CheckoutInput!) {
  checkout(input: $input) {
    order { subtotal { amount } discount { amount } total { amount } voucherCode
            lines { sku unitPrice { amount } } }
    errors { field code message } } }"""


@pytest.fixture
def shop(db):
    hoodies = Category.objects.create(name="Hoodies", slug="hoodies")
    hoodie = make_product(
        name="Hoodie",
        slug="hoodie",
        category=hoodies,
        variants=[
            {"sku": "HOODIE-S", "price": "50.00"},
            {"sku": "HOODIE-L", "price": "60.00"},
        ],
    )
    mug = make_product(
        name="Mug", slug="mug", variants=[{"sku": "MUG", "price": "42.00"}]
    )
    sale = Sale.objects.create(name="Hoodies", kind=DiscountKind.PERCENTAGE, value=20)
    sale.categories.add(hoodies)
    sales_apply()
    Voucher.objects.create(
        code="WELCOME10",
        kind=VoucherKind.PERCENTAGE,
        value=10,
        applies_to_sale_items=True,
        per_customer_limit=1,
    )
    return {"hoodie": hoodie, "mug": mug}


def test_a_variant_on_sale_shows_what_it_cost_before(gql, shop):
    product = gql.ok(VARIANTS, {"slug": "hoodie"})["product"]
    assert product["variants"] == [
        {"sku": "HOODIE-S", "price": {"amount": "40.00"},
         "compareAtPrice": {"amount": "50.00", "currency": "USD"}},
        {"sku": "HOODIE-L", "price": {"amount": "48.00"},
         "compareAtPrice": {"amount": "60.00", "currency": "USD"}},
    ]  # fmt: skip
    assert product["priceRange"] == {
        "min": {"amount": "40.00"},
        "max": {"amount": "48.00"},
    }
    mug = gql.ok(VARIANTS, {"slug": "mug"})["product"]
    assert mug["variants"][0]["compareAtPrice"] is None


def test_price_filters_and_sorting_use_the_price_paid(gql, shop):
    def slugs(filters=None, ordering=None) -> list[str]:
        data = gql.ok(LIST, {"filters": filters, "ordering": ordering})
        return [edge["node"]["slug"] for edge in data["products"]["edges"]]

    # regular prices would put the hoodie (50) above the mug (42)
    assert slugs(ordering=[{"price": "ASC"}]) == ["hoodie", "mug"]
    assert sorted(slugs({"maxPrice": "45"})) == ["hoodie", "mug"]
    assert slugs({"minPrice": "41", "maxPrice": "45"}) == ["mug"]
    assert slugs({"maxPrice": "40"}) == ["hoodie"]
    assert slugs({"minPrice": "49"}) == []  # 50 and 60 are not what anyone pays


def test_a_sale_listing_takes_a_bounded_number_of_queries(gql, shop):
    for n in range(10):
        make_product(slug=f"extra-{n}", variants=[{"price": 10 + n}, {"price": 20 + n}])
    query = """{ products(first: 20) { edges { node {
      variants { price { amount } compareAtPrice { amount } } } } } }"""
    with CaptureQueriesContext(connection) as few:
        gql.ok(query.replace("20", "2", 1))
    with CaptureQueriesContext(connection) as many:
        gql.ok(query)
    assert len(few) == len(many)


def test_the_voucher_flow_through_the_graph(gql, shop):
    hoodie_s = shop["hoodie"].variants.get(sku="HOODIE-S")
    from strawberry.relay import to_base64

    added = gql.ok(
        ADD,
        {
            "lines": [
                {"variantId": to_base64("ProductVariant", hoodie_s.pk), "quantity": 2}
            ]
        },
    )
    token = added["cartLinesAdd"]["cart"]["token"]
    line = added["cartLinesAdd"]["cart"]["lines"][0]
    assert line["variant"]["compareAtPrice"] == {"amount": "50.00"}
    assert line["total"] == {"amount": "80.00"}

    wrong = gql.ok(APPLY, {"token": token, "code": "NOPE"})["cartVoucherApply"]
    assert wrong["cart"] is None
    assert wrong["errors"] == [
        {
            "field": "code",
            "code": "VOUCHER_INVALID",
            "message": "This code is not valid.",
        }
    ]
    applied = gql.ok(APPLY, {"token": token, "code": "welcome10"})["cartVoucherApply"]
    assert applied["errors"] == []
    cart = applied["cart"]
    assert cart["voucherCode"] == "WELCOME10"
    assert cart["estimate"] == {
        "subtotal": {"amount": "80.00"},
        "discount": {"amount": "8.00"},
        "total": {"amount": "72.00"},
    }
    removed = gql.ok(REMOVE, {"token": token})["cartVoucherRemove"]["cart"]
    assert removed["voucherCode"] is None
    assert removed["estimate"]["discount"] == {"amount": "0.00"}
    gql.ok(APPLY, {"token": token, "code": "WELCOME10"})

    done = gql.ok(
        CHECKOUT,
        {"input": {"cartToken": token, "email": "Ada@Example.com",
                   "shippingAddress": {**ADDRESS_INPUT, "country": "US"}}},
    )["checkout"]  # fmt: skip
    assert done["errors"] == []
    assert done["order"] == {
        "subtotal": {"amount": "80.00"},
        "discount": {"amount": "8.00"},
        "total": {"amount": "72.00"},
        "voucherCode": "WELCOME10",
        "lines": [{"sku": "HOODIE-S", "unitPrice": {"amount": "40.00"}}],
    }

    # once per customer: the same email (any case) is refused at checkout
    again = gql.ok(
        ADD,
        {
            "lines": [
                {"variantId": to_base64("ProductVariant", hoodie_s.pk), "quantity": 1}
            ]
        },
    )
    second = gql.ok(
        CHECKOUT,
        {"input": {"cartToken": again["cartLinesAdd"]["cart"]["token"],
                   "email": "ada@example.COM", "voucherCode": "WELCOME10",
                   "shippingAddress": {**ADDRESS_INPUT, "country": "US"}}},
    )["checkout"]  # fmt: skip
    assert second["order"] is None
    assert [(e["field"], e["code"]) for e in second["errors"]] == [
        ("voucherCode", "VOUCHER_USED_UP")
    ]


def test_a_guesser_is_throttled_through_the_graph(gql, shop, settings):
    settings.VOUCHER_FAILURES_PER_CART = 2
    from strawberry.relay import to_base64

    mug = shop["mug"].variants.get()
    token = gql.ok(
        ADD,
        {"lines": [{"variantId": to_base64("ProductVariant", mug.pk), "quantity": 1}]},
    )["cartLinesAdd"]["cart"]["token"]
    codes = [
        gql.ok(APPLY, {"token": token, "code": code})["cartVoucherApply"]["errors"][0][
            "code"
        ]
        for code in ("A1", "A2", "WELCOME10")
    ]
    assert codes == ["VOUCHER_INVALID", "VOUCHER_INVALID", "THROTTLED"]
