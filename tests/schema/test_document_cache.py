"""Work done once, not per request: a document seen before is neither parsed nor
validated again (every limit still holds for it), and each node type knows where
its id is."""

import pytest
from strawberry import relay
from strawberry.extensions.parser_cache import _get_parse_cache
from strawberry.extensions.validation_cache import _get_validate_cache

import schema  # noqa: F401  (built: the node types know their id attribute)
from tests.factories import make_product

pytestmark = pytest.mark.django_db

LISTING = "{ products(first: 3) { edges { node { name } } } }"


def cache_stats(settings) -> tuple[int, int, int, int]:
    parse = _get_parse_cache(settings.GRAPHQL_DOCUMENT_CACHE_SIZE).cache_info()
    validate = _get_validate_cache(settings.GRAPHQL_DOCUMENT_CACHE_SIZE).cache_info()
    return parse.hits, parse.misses, validate.hits, validate.misses


def test_a_repeated_document_is_parsed_and_validated_once(gql, settings):
    document = LISTING.replace("3", "4")  # a text no other test sends
    gql.ok(document)
    before = cache_stats(settings)
    for _ in range(3):
        gql.ok(document)
    after = cache_stats(settings)
    assert [a - b for a, b in zip(after, before, strict=True)] == [3, 0, 3, 0]


def test_limits_still_hold_for_cached_documents(gql, settings):
    deep = '{ product(slug: "x") { category { ' + "parent { " * 9 + "name"
    deep += " }" * 11 + " }"
    aliases = "{ " + " ".join(f"a{n}: __typename" for n in range(31)) + " }"
    for _ in range(2):  # the second time from the caches
        for document in (deep, aliases, "{ nope }"):
            result = gql(document)
            assert result.error_codes() == ["GRAPHQL_VALIDATION_FAILED"], document
            assert result.data is None
    assert "exceeds maximum operation depth" in gql(deep).errors[0]["message"]


def test_the_introspection_setting_applies_to_a_cached_document(gql, settings):
    document = "{ __schema { queryType { name } } }"
    assert gql.ok(document) == {"__schema": {"queryType": {"name": "Query"}}}
    settings.GRAPHQL_INTROSPECTION = False
    for _ in range(2):
        assert set(gql(document).error_codes()) == {"GRAPHQL_VALIDATION_FAILED"}
    settings.GRAPHQL_INTROSPECTION = True
    assert gql.ok(document)["__schema"]["queryType"]["name"] == "Query"


def test_every_node_type_knows_where_its_id_is():
    """Said once at start-up, not searched for on every object (see schema)."""
    pending, seen = list(relay.Node.__subclasses__()), []
    while pending:
        node_type = pending.pop()
        pending.extend(node_type.__subclasses__())
        seen.append(node_type)
    assert {t.__name__ for t in seen} >= {"ProductType", "OrderType", "ReviewType"}
    assert {t._id_attr for t in seen} == {"pk"}


def test_global_ids_are_the_primary_keys(gql):
    product = make_product(name="Kettle", slug="kettle", variants=[{}])
    data = gql.ok('{ product(slug: "kettle") { id variants { id } } }')["product"]
    assert data["id"] == relay.to_base64("Product", product.pk)
    assert data["variants"] == [
        {"id": relay.to_base64("ProductVariant", product.variants.get().pk)}
    ]


def test_a_document_that_does_not_parse_answers_its_code_every_time(gql):
    for _ in range(2):
        result = gql("{ products(first: 1) { totalCount }")
        assert result.status == 200
        assert result.error_codes() == ["GRAPHQL_PARSE_FAILED"]
    too_many = "{ " + " ".join(["__typename"] * 2100) + " }"
    for _ in range(2):
        assert gql(too_many).error_codes() == ["GRAPHQL_PARSE_FAILED"]
