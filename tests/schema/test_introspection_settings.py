"""GRAPHQL_INTROSPECTION and GRAPHQL_GRAPHIQL, and their defaults."""

import pytest
from graphql import get_introspection_query

from tests.shop.core.test_request_log import production_settings, settings_values


@pytest.fixture
def introspection_off(settings):
    settings.GRAPHQL_INTROSPECTION = False


@pytest.mark.parametrize(
    "query",
    [
        "{ __schema { queryType { name } } }",
        '{ __type(name: "Product") { fields { name } } }',
        "{ ...F } fragment F on Query { __schema { types { name } } }",
        get_introspection_query(),
    ],
)
def test_introspection_off_refuses_schema_queries(gql, introspection_off, query):
    result = gql(query)
    assert result.status == 200
    assert result.data is None
    assert set(result.error_codes()) == {"GRAPHQL_VALIDATION_FAILED"}
    assert "introspection has been disabled" in result.errors[0]["message"]


def test_introspection_off_still_answers_typename(gql, introspection_off):
    assert gql.ok("{ __typename }") == {"__typename": "Query"}


def test_introspection_on_answers(gql, settings):
    settings.GRAPHQL_INTROSPECTION = True
    data = gql.ok('{ __type(name: "Product") { name } }')
    assert data == {"__type": {"name": "Product"}}


def graphiql_page(client):
    return client.get("/graphql/", HTTP_ACCEPT="text/html")


def test_graphiql_on_serves_the_page(client, settings):
    settings.GRAPHQL_GRAPHIQL = True
    response = graphiql_page(client)
    assert response.status_code == 200
    assert b"GraphiQL.createFetcher" in response.content


def test_graphiql_off_is_not_found(client, settings):
    settings.GRAPHQL_GRAPHIQL = False
    response = graphiql_page(client)
    assert response.status_code == 404
    assert b"GraphiQL" not in response.content


def test_graphiql_off_leaves_get_queries_working(client, settings, db):
    settings.GRAPHQL_GRAPHIQL = False
    response = client.get(
        "/graphql/", {"query": "{ __typename }"}, HTTP_ACCEPT="application/json"
    )
    assert response.status_code == 200
    assert response.json() == {"data": {"__typename": "Query"}}


def test_defaults_graphiql_in_development_only_introspection_always(tmp_path):
    probe = (
        "from django.conf import settings as s; "
        "print(s.GRAPHQL_GRAPHIQL, s.GRAPHQL_INTROSPECTION)"
    )
    assert settings_values(probe, **production_settings()) == ["False", "True"]
    development = {"SQLITE_PATH": str(tmp_path / "db.sqlite3")}
    assert settings_values(probe, **development) == ["True", "True"]
    assert settings_values(
        probe,
        GRAPHQL_GRAPHIQL="true",
        GRAPHQL_INTROSPECTION="false",
        **production_settings(),
    ) == ["True", "False"]
