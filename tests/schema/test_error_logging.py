"""GraphQL errors in the log: client errors one quiet line, unexpected ones once
with their traceback and the request id the client got, outages one line per
request, and never the document, the variables or a secret."""

import logging

import psycopg
import pytest
import redis
from django.db.backends.utils import CursorWrapper
from django.test import Client
from django_redis import get_redis_connection
from graphql import GraphQLError

from schema.logging import log_error
from shop.catalog import selectors
from tests.factories import UserFactory, make_product
from tests.log_helpers import record_texts

PASSWORD = "Correct-Horse-Battery-7"


@pytest.fixture
def variant(db):
    return make_product(name="Alpha", slug="alpha", variants=[{"price": 5}])


def expired_cart_token(gql, variant) -> str:
    """The token of a guest cart that Redis has since dropped (its TTL ran out)."""
    from strawberry.relay import to_base64

    add = gql.ok(
        "mutation($v: ID!) { cartLinesAdd(lines: [{variantId: $v, quantity: 1}]) "
        "{ cart { token } errors { code } } }",
        {"v": to_base64("ProductVariant", variant.variants.get().pk)},
    )
    get_redis_connection("default").flushdb()
    return add["cartLinesAdd"]["cart"]["token"]


CLIENT_ERRORS = {
    "bad id": ("query($id: ID) { product(id: $id) { slug } }", {"id": "garbage"}),
    "first above 100": ("{ products(first: 101) { totalCount } }", {}),
}


@pytest.mark.parametrize("case", [*CLIENT_ERRORS, "expired cart token"])
def test_a_client_error_is_one_info_line_without_traceback(gql, variant, caplog, case):
    if case == "expired cart token":
        token = expired_cart_token(gql, variant)
        query, variables = (
            "query($t: String) { cart(token: $t) { token } }",
            {"t": token},
        )
    else:
        query, variables = CLIENT_ERRORS[case]
    caplog.set_level(logging.INFO)
    caplog.clear()

    result = gql(query, variables)

    [code] = result.error_codes()
    assert code in ("INVALID", "INVALID_TOKEN")
    assert [
        (r.name, r.levelname) for r in caplog.records if r.name != "shop.request"
    ] == [("shop.graphql", "INFO")]
    [line] = [r for r in caplog.records if r.name == "shop.graphql"]
    assert line.exc_info is None
    assert line.getMessage().startswith(f"GraphQL {code} at ")
    assert "{" not in line.getMessage()  # no document text
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    if case == "expired cart token":
        assert all(token not in text for text in record_texts(caplog))


PIN = "86753094217"  # a numeric password
JOINED = PASSWORD.replace("-", "")  # one that is also a GraphQL name


@pytest.mark.parametrize(
    ("query", "variables", "secret"),
    [
        # A field the payload does not have: the document is otherwise fine.
        (
            f'mutation {{ tokenAuth(email: "ada@example.com", password: "{PASSWORD}")'
            " { bogus } }",
            None,
            PASSWORD,
        ),
        # The password where another type belongs, inline and as variables.
        (
            f'mutation {{ tokenAuth(email: "ada@example.com", password: {PIN}) '
            "{ token } }",
            None,
            PIN,
        ),
        (
            "mutation($e: String!, $p: Int) { tokenAuth(email: $e, password: $p) "
            "{ token } }",
            {"p": PASSWORD, "e": "ada@example.com"},
            PASSWORD,
        ),
        (
            "query($n: Int!) { products(first: $n) { totalCount } }",
            {"n": PASSWORD},
            PASSWORD,
        ),
        # Syntax errors at the password.
        (
            f'mutation {{ tokenAuth(password: "{PASSWORD}" !) {{ token }} }}',
            None,
            PASSWORD,
        ),
        (f"{{ products(first: 1) {{ totalCount }} }} {JOINED}", None, JOINED),
    ],
)
def test_a_refused_document_never_reaches_the_log(
    gql, caplog, log_output, query, variables, secret
):
    result = gql(query, variables)

    assert result.error_codes()[0] in (
        "GRAPHQL_VALIDATION_FAILED",
        "GRAPHQL_PARSE_FAILED",
    )
    graphql_lines = [r for r in caplog.records if r.name == "shop.graphql"]
    assert graphql_lines
    assert all(r.levelno == logging.INFO for r in graphql_lines)
    for text in record_texts(caplog):
        assert secret not in text
    assert secret not in log_output.text


def test_an_unexpected_error_is_logged_once_with_the_id_the_client_got(
    gql, variant, caplog, log_output, monkeypatch
):
    def broken():
        raise RuntimeError("attribute table exploded")

    monkeypatch.setattr(selectors, "attribute_list", broken)

    response = gql.http.post(
        "/graphql/",
        {"query": "query Facets { attributes { slug } }"},
        content_type="application/json",
    )

    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert error["message"] == "Internal server error."
    request_id = response["X-Request-ID"]
    assert error["extensions"]["requestId"] == request_id
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert errors[0].exc_info is not None
    [line] = [line for line in log_output.lines() if line["level"] == "ERROR"]
    assert line["request_id"] == request_id
    assert line["operation"] == "Facets"
    assert "RuntimeError: attribute table exploded" in line["exc_info"]
    assert log_output.request_line()["request_id"] == request_id


def test_the_client_request_id_names_the_unexpected_error(gql, variant, monkeypatch):
    monkeypatch.setattr(selectors, "attribute_list", lambda: 1 / 0)

    response = gql.http.post(
        "/graphql/",
        {"query": "{ attributes { slug } }"},
        content_type="application/json",
        HTTP_X_REQUEST_ID="lb-7f3a2c",
    )

    assert response["X-Request-ID"] == "lb-7f3a2c"
    assert response.json()["errors"][0]["extensions"]["requestId"] == "lb-7f3a2c"


def test_client_errors_carry_no_request_id(gql, variant):
    result = gql("{ products(first: 101) { totalCount } }")
    assert result.errors[0]["extensions"] == {"code": "INVALID"}


@pytest.fixture
def redis_down():
    """Every new Redis connection fails, as when the server is unreachable."""

    def refused(*args, **kwargs):
        raise redis.exceptions.ConnectionError(
            "Error 111 connecting to 127.0.0.1:6379. Connection refused."
        )

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(redis.connection.ConnectionPool, "get_connection", refused)
        yield


def test_a_redis_outage_is_one_line_per_request(variant, log_output, redis_down):
    UserFactory(email="ada@example.com", password=PASSWORD)
    client = Client()
    documents = [
        # The sign-in throttle checks, counts and resets in Redis: three failures.
        f'mutation {{ tokenAuth(email: "ada@example.com", password: "{PASSWORD}") '
        "{ token errors { code } } }",
        'mutation { tokenAuth(email: "ada@example.com", password: "wrong") '
        "{ token errors { code } } }",
        '{ cart(token: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA") { token } }',
        '{ a: cart(token: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA") { token } '
        'b: cart(token: "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB") { token } }',
    ]
    ids = []
    for document in documents:
        response = client.post(
            "/graphql/", {"query": document}, content_type="application/json"
        )
        assert response.status_code == 200
        ids.append(response["X-Request-ID"])

    assert "Traceback" not in log_output.text
    assert all("exc_info" not in line for line in log_output.lines())
    for request_id in ids:
        lines = [
            line for line in log_output.lines() if line["request_id"] == request_id
        ]
        assert [line["level"] for line in lines] == ["ERROR", "INFO"], lines
        assert "redis unavailable (ConnectionError: Error 111" in lines[0]["message"]
        assert lines[1]["logger"] == "shop.request"
        assert lines[1]["dependencies_down"] == ["redis"]


def test_a_database_outage_is_one_line_without_traceback(
    gql, variant, caplog, log_output, monkeypatch
):
    def server_gone(self, *args, **kwargs):
        with self.db.wrap_database_errors:
            raise psycopg.OperationalError(
                "consuming input failed: server closed the connection unexpectedly"
            )

    monkeypatch.setattr(CursorWrapper, "_execute", server_gone)
    response = gql.http.post(
        "/graphql/",
        {"query": '{ product(slug: "alpha") { slug } category(slug: "x") { slug } }'},
        content_type="application/json",
    )
    monkeypatch.undo()

    body = response.json()
    assert [e["extensions"]["code"] for e in body["errors"]] == [
        "INTERNAL_SERVER_ERROR",
        "INTERNAL_SERVER_ERROR",
    ]
    assert {e["extensions"]["requestId"] for e in body["errors"]} == {
        response["X-Request-ID"]
    }
    errors = [line for line in log_output.lines() if line["level"] == "ERROR"]
    assert len(errors) == 1
    assert "database unavailable (OperationalError: " in errors[0]["message"]
    assert "exc_info" not in errors[0]
    assert log_output.request_line()["dependencies_down"] == ["database"]


def test_a_field_named_like_a_secret_does_not_hide_the_message(log_output):
    error = GraphQLError(
        "This refresh token is unknown.",
        path=["refreshToken"],
        extensions={"code": "INVALID_TOKEN"},
    )
    log_error(error, None)
    [line] = log_output.lines("shop.graphql")
    assert line["message"] == (
        "GraphQL INVALID_TOKEN at refreshToken - This refresh token is unknown."
    )
