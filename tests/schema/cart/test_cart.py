"""cart, cartLinesAdd, cartLinesUpdate, cartLinesRemove, cartClear."""

import re
from decimal import Decimal

import pytest
from django_redis import get_redis_connection
from strawberry.relay import to_base64

from shop.catalog.models import ProductVariant
from tests.factories import UserFactory, make_product

CART_FIELDS = """token totalQuantity subtotal { amount currency }
  lines { quantity total { amount }
    variant { sku price { amount } product { name } } }"""
CART = f"cart {{ {CART_FIELDS} }}"
ERRORS = "errors { field code message }"
ADD = f"""mutation($token: String, $lines: [CartLineInput!]!) {{
  cartLinesAdd(token: $token, lines: $lines) {{ {CART} {ERRORS} }} }}"""
UPDATE = f"""mutation($token: String, $lines: [CartLineInput!]!) {{
  cartLinesUpdate(token: $token, lines: $lines) {{ {CART} {ERRORS} }} }}"""
REMOVE = f"""mutation($token: String, $ids: [ID!]!) {{
  cartLinesRemove(token: $token, variantIds: $ids) {{ {CART} {ERRORS} }} }}"""
CLEAR = f"""mutation($token: String) {{
  cartClear(token: $token) {{ {CART} {ERRORS} }} }}"""
QUERY = f"query($token: String) {{ cart(token: $token) {{ {CART_FIELDS} }} }}"


def gid(variant: ProductVariant) -> str:
    return to_base64("ProductVariant", variant.pk)


@pytest.fixture
def items(db):
    """lamp: 10 at 19.99; mug: 3 at 8.50; gone: sold out; hidden: unpublished."""
    lamp = make_product(
        name="Lamp",
        variants=[{"sku": "LAMP", "price": "19.99", "quantity_available": 10}],
    )
    mug = make_product(
        name="Mug", variants=[{"sku": "MUG", "price": "8.50", "quantity_available": 3}]
    )
    gone = make_product(
        name="Gone", variants=[{"sku": "GONE", "price": "5", "quantity_available": 0}]
    )
    hidden = make_product(
        name="Hidden",
        is_published=False,
        variants=[{"sku": "HIDDEN", "price": "5", "quantity_available": 5}],
    )
    return {p.name.lower(): p.variants.get() for p in (lamp, mug, gone, hidden)}


def line(variant, quantity) -> dict:
    return {"variantId": gid(variant), "quantity": quantity}


def add(gql, *lines, token=None) -> dict:
    return gql.ok(ADD, {"token": token, "lines": list(lines)})["cartLinesAdd"]


def codes(payload) -> list[tuple[str | None, str]]:
    return [(e["field"], e["code"]) for e in payload["errors"]]


def redis_carts() -> dict[str, dict[str, str]]:
    """Every cart hash; the marker's value, a random revision, shows as "rev"."""
    redis = get_redis_connection("default")
    carts = {
        key.decode(): {k.decode(): v.decode() for k, v in redis.hgetall(key).items()}
        for key in redis.keys("cart:*")
        if redis.type(key) == b"hash"
    }
    for cart in carts.values():
        if "_" in cart:
            assert re.fullmatch("[0-9a-f]{16}", cart["_"]), cart
            cart["_"] = "rev"
    return carts


# ---------------------------------------------------------------- guests


def test_first_add_creates_a_guest_cart_with_a_token(gql, items):
    payload = add(gql, line(items["lamp"], 2), line(items["mug"], 1))
    assert payload["errors"] == []
    cart = payload["cart"]
    token = cart["token"]
    assert len(token) == 43
    assert cart["totalQuantity"] == 3
    assert cart["subtotal"] == {"amount": "48.48", "currency": "USD"}
    assert cart["lines"] == [
        {
            "quantity": 2,
            "total": {"amount": "39.98"},
            "variant": {
                "sku": "LAMP",
                "price": {"amount": "19.99"},
                "product": {"name": "Lamp"},
            },
        },
        {
            "quantity": 1,
            "total": {"amount": "8.50"},
            "variant": {
                "sku": "MUG",
                "price": {"amount": "8.50"},
                "product": {"name": "Mug"},
            },
        },
    ]
    # Redis holds quantities only, never prices
    assert redis_carts() == {
        f"cart:guest:{token}": {
            "_": "rev",
            str(items["lamp"].pk): "2",
            str(items["mug"].pk): "1",
        }
    }


def test_tokens_are_unguessable_and_distinct(gql, items):
    tokens = {add(gql, line(items["lamp"], 1))["cart"]["token"] for _ in range(5)}
    assert len(tokens) == 5


def test_add_adds_to_the_existing_quantity(gql, items):
    token = add(gql, line(items["lamp"], 2))["cart"]["token"]
    cart = add(gql, line(items["lamp"], 3), token=token)["cart"]
    assert cart["token"] == token
    assert [(ln["variant"]["sku"], ln["quantity"]) for ln in cart["lines"]] == [
        ("LAMP", 5)
    ]


def test_the_same_variant_twice_in_one_add_is_summed(gql, items):
    cart = add(gql, line(items["lamp"], 2), line(items["lamp"], 3))["cart"]
    assert cart["totalQuantity"] == 5


def test_cart_query(gql, items):
    token = add(gql, line(items["mug"], 2))["cart"]["token"]
    cart = gql.ok(QUERY, {"token": token})["cart"]
    assert cart["totalQuantity"] == 2
    assert cart["subtotal"]["amount"] == "17.00"
    assert gql.ok(QUERY, {"token": None}) == {"cart": None}


def test_update_sets_quantities_and_zero_removes(gql, items):
    token = add(gql, line(items["lamp"], 2), line(items["mug"], 1))["cart"]["token"]
    payload = gql.ok(
        UPDATE,
        {"token": token, "lines": [line(items["lamp"], 7), line(items["mug"], 0)]},
    )["cartLinesUpdate"]
    assert payload["errors"] == []
    assert [
        (ln["variant"]["sku"], ln["quantity"]) for ln in payload["cart"]["lines"]
    ] == [("LAMP", 7)]


def test_update_can_add_a_new_line(gql, items):
    token = add(gql, line(items["lamp"], 1))["cart"]["token"]
    payload = gql.ok(UPDATE, {"token": token, "lines": [line(items["mug"], 2)]})
    assert payload["cartLinesUpdate"]["cart"]["totalQuantity"] == 3


def test_remove_lines(gql, items):
    token = add(gql, line(items["lamp"], 2), line(items["mug"], 1))["cart"]["token"]
    payload = gql.ok(REMOVE, {"token": token, "ids": [gid(items["lamp"])]})
    cart = payload["cartLinesRemove"]["cart"]
    assert [ln["variant"]["sku"] for ln in cart["lines"]] == ["MUG"]
    # removing what is not there is fine
    again = gql.ok(REMOVE, {"token": token, "ids": [gid(items["lamp"])]})
    assert again["cartLinesRemove"]["errors"] == []


def test_clear_keeps_the_token(gql, items):
    token = add(gql, line(items["lamp"], 2))["cart"]["token"]
    cleared = gql.ok(CLEAR, {"token": token})["cartClear"]
    assert cleared["errors"] == []
    assert cleared["cart"]["lines"] == []
    assert cleared["cart"]["subtotal"]["amount"] == "0.00"
    assert cleared["cart"]["token"] == token
    assert gql.ok(QUERY, {"token": token})["cart"]["totalQuantity"] == 0
    assert add(gql, line(items["mug"], 1), token=token)["errors"] == []


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("quantity", "code"),
    [(0, "INVALID"), (-1, "INVALID"), (100, "INVALID"), (11, "INSUFFICIENT_STOCK")],
)
def test_add_quantity_errors(gql, items, quantity, code):
    payload = add(gql, line(items["lamp"], quantity))
    assert payload["cart"] is None
    assert codes(payload) == [("lines.0.quantity", code)]
    assert redis_carts() == {}


def test_add_unknown_sold_out_and_unpublished_variants(gql, items):
    ghost = {"variantId": to_base64("ProductVariant", 999999), "quantity": 1}
    payload = add(
        gql,
        line(items["lamp"], 1),
        ghost,
        line(items["gone"], 1),
        line(items["hidden"], 1),
    )
    assert codes(payload) == [
        ("lines.1.variantId", "NOT_FOUND"),
        ("lines.2.quantity", "OUT_OF_STOCK"),
        ("lines.3.variantId", "NOT_FOUND"),
    ]
    assert payload["errors"][1]["message"] == "This product is sold out."
    assert redis_carts() == {}


@pytest.mark.parametrize(
    "bad_id", ["nope", to_base64("Product", 1), to_base64("ProductVariant", "x")]
)
def test_add_a_malformed_variant_id(gql, items, bad_id):
    payload = add(gql, {"variantId": bad_id, "quantity": 1})
    assert codes(payload) == [("lines.0.variantId", "INVALID")]
    assert redis_carts() == {}


def test_a_failing_line_changes_nothing_in_an_existing_cart(gql, items):
    token = add(gql, line(items["lamp"], 8), line(items["mug"], 1))["cart"]["token"]
    before = redis_carts()
    payload = add(gql, line(items["mug"], 1), line(items["lamp"], 3), token=token)
    assert codes(payload) == [("lines.1.quantity", "INSUFFICIENT_STOCK")]
    assert payload["errors"][0]["message"] == "Only 10 left."
    assert redis_carts() == before


def test_the_per_line_maximum_counts_what_is_in_the_cart(gql, items, settings):
    settings.CART_MAX_LINE_QUANTITY = 6
    token = add(gql, line(items["lamp"], 4))["cart"]["token"]
    payload = add(gql, line(items["lamp"], 3), token=token)
    assert codes(payload) == [("lines.0.quantity", "INVALID")]
    assert gql.ok(QUERY, {"token": token})["cart"]["totalQuantity"] == 4


def test_the_number_of_lines_is_bounded(gql, items, settings):
    settings.CART_MAX_LINES = 1
    token = add(gql, line(items["lamp"], 1))["cart"]["token"]
    payload = add(gql, line(items["mug"], 1), token=token)
    assert codes(payload) == [("lines", "INVALID")]
    assert gql.ok(QUERY, {"token": token})["cart"]["totalQuantity"] == 1


def test_update_errors_change_nothing(gql, items):
    token = add(gql, line(items["lamp"], 2))["cart"]["token"]
    before = redis_carts()
    payload = gql.ok(
        UPDATE,
        {
            "token": token,
            "lines": [
                line(items["lamp"], 5),
                line(items["mug"], 4),
                line(items["gone"], 1),
                line(items["hidden"], 1),
                {"variantId": gid(items["lamp"]), "quantity": -1},
            ],
        },
    )["cartLinesUpdate"]
    assert codes(payload) == [
        ("lines.4.quantity", "INVALID"),
        ("lines.4.variantId", "INVALID"),
    ]
    payload = gql.ok(
        UPDATE,
        {
            "token": token,
            "lines": [
                line(items["lamp"], 5),
                line(items["mug"], 4),
                line(items["gone"], 1),
                line(items["hidden"], 1),
            ],
        },
    )["cartLinesUpdate"]
    assert codes(payload) == [
        ("lines.1.quantity", "INSUFFICIENT_STOCK"),
        ("lines.2.quantity", "OUT_OF_STOCK"),
        ("lines.3.variantId", "NOT_FOUND"),
    ]
    assert redis_carts() == before


@pytest.mark.parametrize("token", ["x" * 43, "short", "not a token at all!"])
def test_an_unknown_token_is_invalid(gql, items, token):
    payload = add(gql, line(items["lamp"], 1), token=token)
    assert codes(payload) == [("token", "INVALID_TOKEN")]
    for document, variables in (
        (UPDATE, {"lines": [line(items["lamp"], 1)]}),
        (REMOVE, {"ids": [gid(items["lamp"])]}),
        (CLEAR, {}),
    ):
        data = gql.ok(document, {"token": token, **variables})
        assert codes(next(iter(data.values()))) == [("token", "INVALID_TOKEN")]
    result = gql(QUERY, {"token": token})
    assert result.error_codes() == ["INVALID_TOKEN"]
    assert redis_carts() == {}


def test_a_guest_must_name_the_cart_to_change_it(gql, items):
    for document, variables in (
        (UPDATE, {"lines": [line(items["lamp"], 1)]}),
        (REMOVE, {"ids": [gid(items["lamp"])]}),
        (CLEAR, {}),
    ):
        data = gql.ok(document, variables)
        assert codes(next(iter(data.values()))) == [("token", "REQUIRED")]
    assert redis_carts() == {}


# ---------------------------------------------------------------- current prices


def test_prices_are_read_from_the_catalog_every_time(gql, items):
    token = add(gql, line(items["lamp"], 2))["cart"]["token"]
    ProductVariant.objects.filter(pk=items["lamp"].pk).update(price=Decimal("15.00"))
    cart = gql.ok(QUERY, {"token": token})["cart"]
    assert cart["subtotal"]["amount"] == "30.00"
    assert cart["lines"][0]["total"]["amount"] == "30.00"


def test_deleted_and_unpublished_variants_drop_out(gql, items):
    token = add(gql, line(items["lamp"], 1), line(items["mug"], 1))["cart"]["token"]
    items["lamp"].product.is_published = False
    items["lamp"].product.save()
    items["mug"].delete()
    cart = gql.ok(QUERY, {"token": token})["cart"]
    assert cart["lines"] == []
    assert redis_carts() == {f"cart:guest:{token}": {"_": "rev"}}


def test_writes_refresh_the_ttl(gql, items, settings):
    redis = get_redis_connection("default")
    token = add(gql, line(items["lamp"], 1))["cart"]["token"]
    key = f"cart:guest:{token}"
    assert 30 * 86400 - 5 <= redis.ttl(key) <= 30 * 86400
    redis.expire(key, 60)
    add(gql, line(items["lamp"], 1), token=token)
    assert redis.ttl(key) > 29 * 86400
    settings.CART_TTL_DAYS = 2
    gql.ok(UPDATE, {"token": token, "lines": [line(items["lamp"], 3)]})
    assert 2 * 86400 - 5 <= redis.ttl(key) <= 2 * 86400
    redis.expire(key, 60)
    gql.ok(CLEAR, {"token": token})
    assert redis.ttl(key) > 86400


# ---------------------------------------------------------------- signed in


def test_a_signed_in_user_has_a_cart_without_token(gql, items):
    user = UserFactory()
    gql.login(user)
    assert gql.ok(QUERY)["cart"] == {
        "token": None,
        "totalQuantity": 0,
        "subtotal": {"amount": "0.00", "currency": "USD"},
        "lines": [],
    }
    cart = add(gql, line(items["mug"], 2))["cart"]
    assert cart["token"] is None
    assert cart["totalQuantity"] == 2
    assert redis_carts() == {
        f"cart:user:{user.pk}": {"_": "rev", str(items["mug"].pk): "2"}
    }
    assert (
        gql.ok(UPDATE, {"lines": [line(items["mug"], 1)]})["cartLinesUpdate"]["cart"][
            "totalQuantity"
        ]
        == 1
    )
    assert gql.ok(CLEAR)["cartClear"]["cart"]["totalQuantity"] == 0


def test_sign_in_merges_the_guest_cart_once(gql, items):
    token = add(gql, line(items["lamp"], 6), line(items["mug"], 2))["cart"]["token"]
    user = UserFactory()
    gql.login(user)
    add(gql, line(items["lamp"], 5))
    merged = gql.ok(QUERY, {"token": token})["cart"]
    # quantities add, capped by stock (lamp: 10 available)
    assert [(ln["variant"]["sku"], ln["quantity"]) for ln in merged["lines"]] == [
        ("LAMP", 10),
        ("MUG", 2),
    ]
    assert merged["token"] is None
    assert f"cart:guest:{token}" not in redis_carts()
    # a second merge with the same token is a no-op
    again = gql.ok(QUERY, {"token": token})["cart"]
    assert again == merged
    # nobody else can use the token now
    gql.login(UserFactory())
    assert gql(QUERY, {"token": token}).error_codes() == ["INVALID_TOKEN"]
    gql.authorize(None)
    assert gql(QUERY, {"token": token}).error_codes() == ["INVALID_TOKEN"]


def test_a_cart_mutation_with_a_guest_token_merges_too(gql, items, settings):
    settings.CART_MAX_LINE_QUANTITY = 5
    token = add(
        gql,
        line(items["lamp"], 4),
        line(items["mug"], 1),
    )["cart"]["token"]
    gql.login(UserFactory())
    add(gql, line(items["lamp"], 3))
    payload = add(gql, line(items["mug"], 1), token=token)
    assert payload["errors"] == []
    # lamp: 3 + 4 capped by the per-line maximum (5); mug: 1 + 1
    assert [
        (ln["variant"]["sku"], ln["quantity"]) for ln in payload["cart"]["lines"]
    ] == [("LAMP", 5), ("MUG", 2)]


def test_merge_drops_lines_no_longer_for_sale(gql, items):
    token = add(gql, line(items["lamp"], 1), line(items["mug"], 1))["cart"]["token"]
    ProductVariant.objects.filter(pk=items["mug"].pk).update(quantity_available=0)
    items["lamp"].product.is_published = False
    items["lamp"].product.save()
    gql.login(UserFactory())
    assert gql.ok(QUERY, {"token": token})["cart"]["lines"] == []


# ---------------------------------------------------------------- Redis down


def test_without_redis_carts_say_service_unavailable_and_the_catalog_works(
    gql, items, settings
):
    settings.CACHES = {
        "default": {**settings.CACHES["default"], "LOCATION": "redis://127.0.0.1:1/0"}
    }
    result = gql(ADD, {"lines": [line(items["lamp"], 1)]})
    assert result.status == 200
    assert result.error_codes() == ["SERVICE_UNAVAILABLE"]
    assert result.data is None
    result = gql(QUERY, {"token": "x" * 43})
    assert result.error_codes() == ["SERVICE_UNAVAILABLE"]
    gql.login(UserFactory())
    result = gql(f"{{ products {{ totalCount }} {CART} }}")
    assert result.data == {"products": {"totalCount": 3}, "cart": None}
    assert result.error_codes() == ["SERVICE_UNAVAILABLE"]
