"""What a client developer reads in the schema is what the API does: no library
internals in the filters, paging arguments and page flags described as they behave,
Decimal and DateTime said to be strings, and GraphiQL opening on the README's queries.
"""

import json
import re
from datetime import datetime
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from graphql import parse, validate
from strawberry.printer import print_schema

from schema import schema
from schema.connections import ARGUMENT_DESCRIPTIONS
from schema.graphiql import DEFAULT_QUERY, README_QUERIES
from tests.factories import UserFactory, make_product
from tests.reviews_helpers import review

README = Path(__file__).resolve().parents[2] / "README.md"

TYPE = """
query($name: String!) {
  __type(name: $name) {
    description
    fields { name description args { name description } }
    inputFields { name }
  }
}
"""


def described(gql, name: str) -> dict:
    return gql.ok(TYPE, {"name": name})["__type"]


# ---------------------------------------------------------------- filters


@pytest.mark.parametrize("name", ["ProductFilter", "ReviewFilter"])
def test_filters_have_no_distinct(gql, name):
    fields = [field["name"] for field in described(gql, name)["inputFields"]]
    assert "DISTINCT" not in fields
    assert {"AND", "OR", "NOT"} <= set(fields)
    assert "DISTINCT" not in print_schema(schema)


def test_passing_distinct_to_products_is_a_validation_error(gql):
    result = gql("{ products(first: 1, filters: {DISTINCT: true}) { totalCount } }")
    assert result.data is None
    assert result.error_codes() == ["GRAPHQL_VALIDATION_FAILED"]
    assert "DISTINCT" in result.errors[0]["message"]


def test_passing_distinct_to_reviews_is_a_validation_error(gql):
    result = gql(
        '{ product(slug: "x") { reviews(first: 1, filters: {DISTINCT: true}) '
        "{ totalCount } } }"
    )
    assert result.data is None
    assert result.error_codes() == ["GRAPHQL_VALIDATION_FAILED"]


def test_product_filter_not_still_works(gql):
    make_product(name="Kept", variants=[{"price": "5"}])
    make_product(name="Dropped", variants=[{"price": "50"}])
    data = gql.ok(
        '{ products(first: 5, filters: {NOT: {minPrice: "10"}}) '
        "{ edges { node { name } } } }"
    )
    assert [e["node"]["name"] for e in data["products"]["edges"]] == ["Kept"]


# ---------------------------------------------------------------- connections

CONNECTIONS = {
    ("Query", "products"),
    ("Category", "products"),
    ("Product", "reviews"),
    ("User", "orders"),
    ("User", "reviews"),
}

ALL_FIELDS = """
{ __schema { types { name fields { name args { name description } } } } }
"""


def test_every_connection_describes_its_paging_arguments(gql):
    types = gql.ok(ALL_FIELDS)["__schema"]["types"]
    connections = {
        (t["name"], f["name"]): {a["name"]: a["description"] for a in f["args"]}
        for t in types
        for f in t["fields"] or ()
        if f["name"] and any(a["name"] == "last" for a in f["args"])
    }
    assert set(connections) == CONNECTIONS
    for arguments in connections.values():
        assert {name: arguments[name] for name in ARGUMENT_DESCRIPTIONS} == {
            "first": "The first n items after the `after` cursor, or from the "
            "list's start.",
            "after": "Only items after this cursor: an edge's cursor from this "
            "connection.",
            "last": "The last n items before the `before` cursor, or up to the "
            "list's end.",
            "before": "Only items before this cursor: an edge's cursor from this "
            "connection.",
        }


def test_page_info_says_what_its_flags_mean(gql):
    fields = {f["name"]: f["description"] for f in described(gql, "PageInfo")["fields"]}
    assert fields["hasNextPage"] == (
        "Whether items follow this page: true when `first` left more items out, or "
        "when `before` was given (the edge that cursor came from follows the page)."
    )
    assert fields["hasPreviousPage"] == (
        "Whether items precede this page: true when `last` left more items out, or "
        "when `after` was given (the edge that cursor came from precedes the page)."
    )
    assert "before" in fields["startCursor"]
    assert "after" in fields["endCursor"]


PRODUCTS = """
query($first: Int, $after: String, $last: Int, $before: String) {
  products(first: $first, after: $after, last: $last, before: $before,
           ordering: [{name: ASC}]) {
    pageInfo { hasPreviousPage hasNextPage startCursor endCursor }
    edges { node { name } }
  }
}
"""

REVIEWS = """
query($first: Int, $after: String, $last: Int, $before: String) {
  product(slug: "kettle") {
    reviews(first: $first, after: $after, last: $last, before: $before) {
      pageInfo { hasPreviousPage hasNextPage startCursor endCursor }
      edges { node { comment } }
    }
  }
}
"""


@pytest.fixture
def five_products(db):
    for name in ("A", "B", "C", "D", "E"):
        make_product(name=name, variants=[{"price": "5"}])


@pytest.fixture
def five_reviews(db):
    kettle = make_product(name="Kettle", slug="kettle", variants=[{"price": "5"}])
    for name in ("A", "B", "C", "D", "E"):  # newest first: E, D, C, B, A
        review(UserFactory(), kettle, comment=name)


def products_page(gql, **variables):
    connection_ = gql.ok(PRODUCTS, variables)["products"]
    return connection_, [e["node"]["name"] for e in connection_["edges"]]


def reviews_page(gql, **variables):
    connection_ = gql.ok(REVIEWS, variables)["product"]["reviews"]
    return connection_, [e["node"]["comment"] for e in connection_["edges"]]


def flags(connection_) -> tuple[bool, bool]:
    page_info = connection_["pageInfo"]
    return page_info["hasPreviousPage"], page_info["hasNextPage"]


@pytest.mark.parametrize(
    ("fixture", "read", "order"),
    [
        ("five_products", products_page, ["A", "B", "C", "D", "E"]),
        ("five_reviews", reviews_page, ["E", "D", "C", "B", "A"]),
    ],
)
def test_paging_forward_answers_both_flags(request, gql, fixture, read, order):
    request.getfixturevalue(fixture)
    first, items = read(gql, first=2)
    assert (items, flags(first)) == (order[:2], (False, True))
    middle, items = read(gql, first=2, after=first["pageInfo"]["endCursor"])
    assert (items, flags(middle)) == (order[2:4], (True, True))
    last, items = read(gql, first=2, after=middle["pageInfo"]["endCursor"])
    assert (items, flags(last)) == (order[4:], (True, False))
    whole, items = read(gql, first=5)
    assert (items, flags(whole)) == (order, (False, False))


@pytest.mark.parametrize(
    ("fixture", "read", "order"),
    [
        ("five_products", products_page, ["A", "B", "C", "D", "E"]),
        ("five_reviews", reviews_page, ["E", "D", "C", "B", "A"]),
    ],
)
def test_paging_backward_answers_both_flags(request, gql, fixture, read, order):
    request.getfixturevalue(fixture)
    end, items = read(gql, last=2)
    assert (items, flags(end)) == (order[3:], (True, False))
    middle, items = read(gql, last=2, before=end["pageInfo"]["startCursor"])
    assert (items, flags(middle)) == (order[1:3], (True, True))
    start, items = read(gql, last=2, before=middle["pageInfo"]["startCursor"])
    assert (items, flags(start)) == (order[:1], (False, True))
    whole, items = read(gql, last=5)
    assert (items, flags(whole)) == (order, (False, False))


def test_a_page_between_two_cursors_has_both_neighbours(gql, five_products):
    _, items = products_page(gql, first=5)
    first, _ = products_page(gql, first=1)
    end, _ = products_page(gql, last=1)
    between, items = products_page(
        gql,
        first=5,
        after=first["pageInfo"]["endCursor"],
        before=end["pageInfo"]["startCursor"],
    )
    assert (items, flags(between)) == (["B", "C", "D"], (True, True))


def test_the_flags_cost_no_query(gql, five_reviews):
    def queries(**variables) -> int:
        with CaptureQueriesContext(connection) as captured:
            reviews_page(gql, **variables)
        return len(captured.captured_queries)

    first, _ = reviews_page(gql, first=2)
    end, _ = reviews_page(gql, last=2)
    assert queries(first=2, after=first["pageInfo"]["endCursor"]) == queries(first=2)
    assert queries(last=2, before=end["pageInfo"]["startCursor"]) == queries(last=2)


# ---------------------------------------------------------------- scalars


def test_decimal_and_datetime_say_they_are_strings(gql):
    assert described(gql, "Decimal")["description"] == (
        'A decimal number as a JSON string, e.g. "19.99": exact, never a float. '
        "Send it as a string too."
    )
    assert described(gql, "DateTime")["description"] == (
        "A point in time as an ISO 8601 string with its UTC offset, e.g. "
        '"2026-11-27T10:15:00+00:00" (fractional seconds when present).'
    )


def test_decimal_and_datetime_are_strings_on_the_wire(gql):
    make_product(name="Kettle", slug="kettle", variants=[{"price": "19.99"}])
    data = gql.ok(
        '{ product(slug: "kettle") { createdAt variants { price { amount } } } }'
    )["product"]
    assert data["variants"][0]["price"]["amount"] == "19.99"
    created = data["createdAt"]
    assert isinstance(created, str)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00", created)
    assert datetime.fromisoformat(created).utcoffset().total_seconds() == 0


# ---------------------------------------------------------------- GraphiQL


def readme_first_graphql_block() -> str:
    match = re.search(r"^```graphql\n(.*?)^```$", README.read_text(), re.S | re.M)
    return match.group(1)


def test_graphiql_document_is_the_readmes_first_query():
    assert readme_first_graphql_block() == README_QUERIES
    assert DEFAULT_QUERY.endswith(README_QUERIES)


def test_graphiql_document_is_valid_and_hints_at_the_headers_tab():
    assert validate(schema._schema, parse(DEFAULT_QUERY)) == []
    assert DEFAULT_QUERY.startswith("# Signed in?")
    assert '{"Authorization": "Bearer <token>"}' in DEFAULT_QUERY.splitlines()[1]


def test_graphiql_opens_on_the_default_document(client, settings):
    settings.GRAPHQL_GRAPHIQL = True
    response = client.get("/graphql/", HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    page = response.content.decode()
    declaration = re.search(r"const EXAMPLE_QUERY = (.*?);\n", page).group(1)
    assert json.loads(declaration) == DEFAULT_QUERY
    assert "Welcome to GraphiQL" not in page
    # The Headers editor starts empty: nothing but the CSRF cookie is sent.
    assert "const defaultHeaders = {};" in page
    assert "<token>" not in page  # escaped inside the script: no stray tag
