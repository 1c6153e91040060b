"""Limits that look at what an operation asks for, variables included: its cost,
and the size of product filters. Refused before any product is read."""

import pytest
from graphql import parse

from schema import schema
from schema.extensions import operation_cost
from tests.factories import make_product

pytestmark = pytest.mark.django_db

PRODUCT_PAGE = """edges { node { name
  variants { sku price { amount } attributes { attribute { name } value { name } } }
  attributes { attribute { name } value { name } } } }"""
COUNT = "query($f: ProductFilter) { products(filters: $f) { totalCount } }"


@pytest.fixture
def catalog(db):
    return make_product(name="Lamp", variants=[{"price": 5, "color": "Red"}])


def cost(document: str, **variables) -> int:
    return operation_cost(schema._schema, parse(document), None, variables)


def only_error(result) -> dict:
    assert result.status == 200, result.body
    assert len(result.errors) == 1, result.errors
    return result.errors[0]


# ---------------------------------------------------------------- cost


def test_the_cost_multiplies_page_sizes_and_lists_through_the_nesting():
    # products: 10 x (itself + edge + node + 5 variants) = 80
    assert cost("{ products(first: 10) { edges { node { variants { sku } } } } }") == 80
    assert cost("query($n: Int) { products(first: $n) { totalCount } }", n=7) == 7
    # No page size given: a full page.
    assert cost("{ products { totalCount } }") == 100
    # Aliases and fragments count where they are asked.
    twice = "{ a: products(first: 3) { totalCount } b: products(first: 3) { ...F } }"
    assert cost(twice + " fragment F on ProductCountableConnection { totalCount }") == 6


def test_thirty_aliases_of_full_pages_are_refused_before_running(
    gql, catalog, django_assert_num_queries
):
    aliases = " ".join(
        f"p{n}: products(first: 100) {{ {PRODUCT_PAGE} }}" for n in range(30)
    )
    with django_assert_num_queries(0):
        result = gql(f"{{ {aliases} }}")
    error = only_error(result)
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert error["extensions"]["maxCost"] == 20_000
    assert error["extensions"]["cost"] > 20_000
    assert result.data is None


def test_page_sizes_in_variables_count(gql, catalog):
    query = (
        "query($n: Int) { "
        + " ".join(f"p{n}: products(first: $n) {{ {PRODUCT_PAGE} }}" for n in range(5))
        + " }"
    )
    refused = gql(query, {"n": 100})
    assert only_error(refused)["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert gql.ok(query, {"n": 5})["p0"]["edges"][0]["node"]["name"] == "Lamp"


def test_a_storefront_page_of_100_products_is_allowed(gql, catalog):
    data = gql.ok(f"{{ products(first: 100) {{ {PRODUCT_PAGE} }} }}")
    assert len(data["products"]["edges"]) == 1


def test_the_ceiling_is_a_setting(gql, catalog, settings):
    settings.GRAPHQL_MAX_COST = 50
    refused = gql("{ products(first: 51) { totalCount } }")
    assert only_error(refused)["extensions"]["maxCost"] == 50
    assert gql.ok("{ products(first: 50) { totalCount } }")


# ---------------------------------------------------------------- filters


def colour(n: int) -> dict:
    return {"slug": "color", "values": [f"red-{n}"]}


@pytest.mark.parametrize(
    ("filters", "field"),
    [
        ({"attributes": [colour(n) for n in range(21)]}, "filters.attributes"),
        (
            {"attributes": [{"slug": "color", "values": ["x"] * 101}]},
            "filters.attributes.0.values",
        ),
        # Counted over every level of AND / OR / NOT.
        (
            {
                "attributes": [colour(n) for n in range(10)],
                "AND": {"attributes": [colour(n) for n in range(6)]},
                "NOT": {"attributes": [colour(n) for n in range(5)]},
            },
            "filters.attributes",
        ),
        ({"AND": {"OR": {"NOT": {"AND": {"OR": {"search": "x"}}}}}}, "filters"),
    ],
)
def test_oversized_filters_are_invalid_before_any_query(
    gql, catalog, filters, field, django_assert_num_queries
):
    with django_assert_num_queries(0):
        result = gql(COUNT, {"f": filters})
    error = only_error(result)
    assert error["extensions"] == {"code": "INVALID", "field": field}


def test_filters_within_the_limits_run(gql, catalog):
    filters = {
        "attributes": [{"slug": "color", "values": ["red", *["x"] * 99]}]
        + [colour(n) for n in range(19)][:0],
        "AND": {"OR": {"NOT": {"AND": {"search": "nothing-like-this"}}}},
    }
    assert gql.ok(COUNT, {"f": filters})["products"]["totalCount"] == 1
    many = {"attributes": [{"slug": "color", "values": ["red"]}] * 20}
    assert gql.ok(COUNT, {"f": many})["products"]["totalCount"] == 1


def test_filter_limits_are_settings(gql, catalog, settings):
    settings.PRODUCT_FILTER_MAX_ATTRIBUTES = 1
    settings.PRODUCT_FILTER_MAX_VALUES = 2
    two = {"attributes": [colour(1), colour(2)]}
    assert only_error(gql(COUNT, {"f": two}))["extensions"]["code"] == "INVALID"
    three_values = {"attributes": [{"slug": "color", "values": ["a", "b", "c"]}]}
    assert (
        only_error(gql(COUNT, {"f": three_values}))["extensions"]["code"] == "INVALID"
    )
