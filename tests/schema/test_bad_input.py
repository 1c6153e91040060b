"""Bad input gets a clear GraphQL error (or a 400), never a 500."""

import json

import pytest
from strawberry.relay import to_base64

from tests.factories import make_product


@pytest.fixture
def product(db):
    return make_product(name="Alpha", slug="alpha", variants=[{"price": 5}])


def only_error(result, code: str = "INVALID") -> dict:
    """The one error of a result, which must carry ``code``."""
    assert result.status == 200, result.body
    assert len(result.errors) == 1, result.errors
    assert result.errors[0]["extensions"]["code"] == code, result.errors
    return result.errors[0]


@pytest.mark.parametrize(
    "bad_id",
    ["not-base64!", to_base64("Product", "abc"), "UHJvZHVjdA==", ""],
)
def test_malformed_product_id(gql, product, bad_id):
    result = gql("query($id: ID) { product(id: $id) { slug } }", {"id": bad_id})
    only_error(result)
    assert result.data in (None, {"product": None})


def test_product_id_of_another_type(gql, product):
    category_id = to_base64("Category", 1)
    error = only_error(
        gql("query($id: ID) { product(id: $id) { slug } }", {"id": category_id})
    )
    assert error["extensions"] == {"code": "INVALID", "field": "id"}
    assert "Product" in error["message"]


def test_product_needs_exactly_one_of_id_and_slug(gql, product):
    error = only_error(gql("{ product { slug } }"))
    assert error["extensions"]["code"] == "INVALID"
    both = gql(
        'query($id: ID) { product(id: $id, slug: "alpha") { slug } }',
        {"id": to_base64("Product", product.pk)},
    )
    assert only_error(both)["extensions"]["code"] == "INVALID"


@pytest.mark.parametrize("bad_id", ["garbage", to_base64("Nope", 1)])
def test_malformed_node_id(gql, product, bad_id):
    result = gql("query($id: ID!) { node(id: $id) { id } }", {"id": bad_id})
    assert only_error(result)["message"].startswith("Invalid ID")
    assert result.data == {"node": None}


def test_first_above_100_is_refused(gql, product):
    error = only_error(gql("{ products(first: 101) { edges { cursor } } }"))
    assert "100" in error["message"]
    ok = gql("{ products(first: 100) { edges { cursor } } }")
    assert ok.errors == []


@pytest.mark.parametrize("argument", ["first: -1", "last: -1", "last: 101"])
def test_bad_page_sizes(gql, product, argument):
    only_error(gql(f"{{ products({argument}) {{ edges {{ cursor }} }} }}"))


def test_garbage_cursor(gql, product):
    only_error(gql('{ products(after: "garbage") { edges { cursor } } }'))


@pytest.mark.parametrize(
    ("filters", "field"),
    [
        ({"minPrice": "-1"}, "minPrice"),
        ({"maxPrice": "-0.01"}, "maxPrice"),
        ({"minPrice": "10", "maxPrice": "5"}, "minPrice"),
        ({"minPrice": "NaN"}, "minPrice"),
        ({"maxPrice": "Infinity"}, "maxPrice"),
        ({"maxPrice": "1e1000000"}, "maxPrice"),
        ({"minPrice": "10000000000"}, "minPrice"),
    ],
)
def test_bad_price_bounds(gql, product, filters, field):
    error = only_error(
        gql(
            "query($f: ProductFilter) { products(filters: $f) { totalCount } }",
            {"f": filters},
        )
    )
    assert error["extensions"] == {"code": "INVALID", "field": field}


def test_price_that_is_not_a_number(gql, product):
    only_error(
        gql(
            "query($f: ProductFilter) { products(filters: $f) { totalCount } }",
            {"f": {"minPrice": "cheap"}},
        ),
        "GRAPHQL_VALIDATION_FAILED",
    )


def test_ordering_item_with_two_fields(gql, product):
    result = gql("{ products(ordering: [{price: ASC, name: DESC}]) { totalCount } }")
    only_error(result, "GRAPHQL_VALIDATION_FAILED")  # @oneOf


def test_unknown_field(gql, product):
    only_error(gql("{ products { nope } }"), "GRAPHQL_VALIDATION_FAILED")


def test_malformed_json_is_a_400(gql, product):
    response = gql.http.post("/graphql/", "{not json", content_type="application/json")
    assert response.status_code == 400


def test_empty_body_is_a_400(gql, product):
    response = gql.http.post("/graphql/", "", content_type="application/json")
    assert response.status_code == 400


def test_syntax_error(gql, product):
    only_error(gql("{ products { "), "GRAPHQL_PARSE_FAILED")


def test_depth_limit(gql, product, settings):
    settings.GRAPHQL_MAX_COST = 10**12  # each level multiplies the estimated cost
    deep = "{ categories { " + "children { " * 10 + "slug" + " }" * 10 + " } }"
    error = only_error(gql(deep), "GRAPHQL_VALIDATION_FAILED")
    assert "depth" in error["message"].lower()
    within = "{ categories { " + "children { " * 7 + "slug" + " }" * 7 + " } }"
    assert gql(within).errors == []


def test_alias_limit(gql, product):
    aliases = " ".join(f'a{n}: product(slug: "alpha") {{ slug }}' for n in range(31))
    error = only_error(gql(f"{{ {aliases} }}"), "GRAPHQL_VALIDATION_FAILED")
    assert "alias" in error["message"].lower()


def test_token_limit(gql, product):
    fields = " ".join("slug" for _ in range(2100))
    error = only_error(
        gql(f'{{ product(slug: "alpha") {{ {fields} }} }}'),
        "GRAPHQL_PARSE_FAILED",
    )
    assert "token" in error["message"].lower()


def test_introspection_works_for_graphiql(gql, product):
    from graphql import get_introspection_query

    result = gql(get_introspection_query())
    assert result.errors == []
    assert result.data["__schema"]["queryType"]["name"] == "Query"


def test_an_unexpected_failure_is_masked_and_coded(gql, product, monkeypatch):
    from shop.catalog import selectors

    def broken():
        raise RuntimeError("password=hunter2 at db-7.internal")

    monkeypatch.setattr(selectors, "category_roots", broken)
    result = gql("{ categories { slug } }")
    error = only_error(result, "INTERNAL_SERVER_ERROR")
    assert error["message"] == "Internal server error."
    assert "hunter2" not in json.dumps(result.body)


def test_json_nested_too_deeply_is_a_400(gql, product):
    depth = 100_000
    nested = '{"OR":' * depth + '{"search":"x"}' + "}" * depth
    body = (
        '{"query":"query($f: ProductFilter){ products(filters: $f) { totalCount } }",'
        f'"variables":{{"f":{nested}}}}}'
    )
    response = gql.http.post("/graphql/", body, content_type="application/json")
    assert response.status_code == 400


def test_variables_nested_too_deeply_are_refused(gql, product):
    nested = {"search": "x"}
    for _ in range(400):
        nested = {"OR": nested}
    result = gql(
        "query($f: ProductFilter) { products(filters: $f) { totalCount } }",
        {"f": nested},
    )
    only_error(result, "GRAPHQL_VALIDATION_FAILED")


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        ("query($s: String!) { product(slug: $s) { name } }", {"s": "a\x00b"}),
        ('{ variant(sku: "a\\u0000b") { sku } }', {}),
        (
            "query($f: ProductFilter) { products(filters: $f) { totalCount } }",
            {"f": {"search": "lamp\x00"}},
        ),
    ],
)
def test_nul_characters_are_a_400(gql, product, query, variables):
    response = gql.http.post(
        "/graphql/",
        json.dumps({"query": query, "variables": variables}),
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "NUL" in response.content.decode()


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        # Six characters of text, not a NUL: a variable is a value already...
        (
            "query($f: ProductFilter) { products(filters: $f) { totalCount } }",
            {"f": {"search": "\\u0000"}},
        ),
        # ...and in the document an escaped backslash comes first.
        ('{ products(filters: {search: "\\\\u0000"}) { totalCount } }', {}),
    ],
)
def test_the_text_backslash_u0000_is_not_a_nul(gql, product, query, variables):
    assert gql.ok(query, variables)["products"]["totalCount"] == 0


# Only the shop's own words reach a client: never Python's or a library's.
LEAKS = ("codec", "utf-8", "literal", "int()", "base64", "padding", "expected to")


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        (
            "query($f: ProductFilter) { products(filters: $f) { totalCount } }",
            {"f": {"search": "\ud800x"}},
        ),
        (
            "query($f: ProductFilter) { products(filters: $f) { totalCount } }",
            {"f": {"category": "\udfffphones"}},
        ),
        ("query($id: ID!) { node(id: $id) { id } }", {"id": "garbage"}),
        (
            "query($id: ID!) { node(id: $id) { id } }",
            {"id": to_base64("ProductVariant", "\u00b2")},
        ),
        (
            "query($id: ID) { product(id: $id) { slug } }",
            {"id": to_base64("Product", "\u0661\u0662")},  # Arabic-Indic 12
        ),
        ("query($c: String) { products(after: $c) { totalCount } }", {"c": "%%%"}),
    ],
)
def test_error_messages_never_carry_python_text(gql, product, query, variables):
    result = gql(query, variables)
    assert result.status in (200, 400), result.body
    for error in result.errors:
        assert error["extensions"]["code"] in ("INVALID", "GRAPHQL_VALIDATION_FAILED")
        assert not any(leak in error["message"] for leak in LEAKS), error


def test_an_id_with_non_ascii_digits_is_invalid_in_a_mutation(gql, product):
    result = gql(
        """mutation($id: ID!) { cartLinesAdd(lines: [{variantId: $id, quantity: 1}]) {
             errors { field code message } } }""",
        {"id": to_base64("ProductVariant", "\u00b2")},
    )
    [error] = result.data["cartLinesAdd"]["errors"]
    assert error == {
        "field": "lines.0.variantId",
        "code": "INVALID",
        "message": "Not the ID of a ProductVariant.",
    }


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"query": "{ products { totalCount } }", "x": "\xed\xa0\x80"}', b"UTF-8"),
        (b"\xff\xfe{}", b"UTF-8"),
        (b'""', b"JSON object"),
        (b"1", b"JSON object"),
        (b"null", b"JSON object"),
        (b'["{ products { totalCount } }"]', b"JSON object"),
        (
            b'{"query": "query A { products { totalCount } }", '
            b'"operationName": "\\ud800"}',
            b'Unknown operation named \\"\\ud800\\"',  # a JSON error body
        ),
    ],
    ids=[
        "surrogate-bytes",
        "not-utf-8",
        "string",
        "number",
        "null",
        "batch-of-text",
        "operation-name-surrogate",
    ],
)
def test_a_body_django_cannot_read_is_a_400_not_a_500(db, body, reason):
    """Through the whole ASGI application (the response cache in front)."""
    from shop.asgi import application
    from tests.asgi_helpers import asgi_call

    response = asgi_call(
        application, "POST", body=body, headers={"content-type": "application/json"}
    )
    assert response.status == 400
    assert reason in response.body
