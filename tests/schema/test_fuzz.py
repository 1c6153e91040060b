"""Generated documents against /graphql/: never a 5xx, always a well-formed answer.

hypothesis-graphql writes queries and mutations from the served schema, with
generated arguments (inline, or lifted into variables as clients send them), and
the test client POSTs them as anonymous, signed-in, staff and bad-token clients on
a small catalog. Every answer must be JSON with ``data`` and/or ``errors``; every
error needs a message and a known ``extensions.code``; INTERNAL_SERVER_ERROR (a
bug) and raw Python exception text never reach a client.
"""

import base64
import json
from dataclasses import dataclass

import graphql
import hypothesis_graphql
import pytest
from graphql_jwt.shortcuts import get_token
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from hypothesis_graphql import nodes
from strawberry.relay import to_base64

from schema import schema
from schema.cart.resolvers import SERVICE_UNAVAILABLE
from schema.extensions import PARSE_FAILED, QUERY_TOO_COMPLEX, VALIDATION_FAILED
from schema.permissions import FORBIDDEN, UNAUTHENTICATED
from shop.accounts.models import User
from shop.catalog.models import (
    Attribute,
    AttributeValue,
    Category,
    Product,
    ProductVariant,
)
from shop.core.errors import ErrorCode
from tests.factories import CategoryFactory, UserFactory, make_product

pytestmark = pytest.mark.django_db(transaction=True)

KNOWN_CODES = {code.value for code in ErrorCode} | {
    UNAUTHENTICATED,
    FORBIDDEN,
    PARSE_FAILED,
    VALIDATION_FAILED,
    SERVICE_UNAVAILABLE,
    QUERY_TOO_COMPLEX,
}

# Text that only an exception's own message carries: such a message reached the
# client as it was raised, unchecked (it may name internals, and it helps nobody).
RAW_EXCEPTION_TEXT = (
    "codec can't",
    "invalid literal for",
    "Traceback",
    "object has no attribute",
    "unsupported operand",
    "NoneType",
    "psycopg",
    "django.",
    "decimal.",
    "<class ",
    "could not convert",
    "not JSON serializable",
    "unexpected keyword argument",
    "out of range",
    "expected to contain only",
    "base64",
    "expected a number but got",
)

FUZZ_SETTINGS = settings(
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=False,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.large_base_example,
    ],
)

SDL = schema.as_str()
SERVED_SCHEMA = graphql.build_schema(SDL)
TYPE_NAMES = ("Product", "ProductVariant", "Category", "Order", "User", "Attribute")

# Strings as clients may send them: any text, lone surrogates (JSON "\ud800"
# escapes), digits of other scripts, long runs.
TEXT = st.one_of(
    st.text(st.characters(exclude_characters="\x00"), max_size=30),
    st.text(st.characters(codec=None, categories=["Cs", "Nd", "No"]), max_size=6),
    st.sampled_from(["", " ", "a" * 300, "\ud800x", "-0", "1e9999", "NaN"]),
)

DECIMAL_TEXT = st.one_of(
    st.decimals(allow_nan=True, allow_infinity=True, places=None).map(str),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.sampled_from(["1e999999999", "-1e-999999999", "0.005", "1_000", " 5 ", "²"]),
    TEXT,
)

DATETIME_TEXT = st.one_of(
    st.datetimes(timezones=st.none() | st.timezones()).map(lambda d: d.isoformat()),
    TEXT,
)


def global_id(type_name: str, key: str) -> str:
    """A relay global ID; lone surrogates in ``key`` become undecodable bytes."""
    raw = f"{type_name}:{key}".encode(errors="surrogatepass")
    return base64.b64encode(raw).decode()


def id_text(known: list[str]) -> st.SearchStrategy[str]:
    """Global IDs: of catalog objects, of any type with any key, and garbage."""
    keys = st.one_of(
        st.integers(min_value=-1, max_value=2**64).map(str),
        st.text(st.characters(categories=["Nd", "No"]), min_size=1, max_size=3),
        TEXT,
    )
    return st.one_of(
        st.sampled_from(known),
        st.builds(global_id, st.sampled_from(TYPE_NAMES), keys),
        TEXT,
    )


def scalars(known_ids: list[str]) -> dict[str, st.SearchStrategy]:
    """Value nodes for the schema's scalars (custom ones and ID and String)."""
    return {
        "ID": id_text(known_ids).map(nodes.String),
        "String": TEXT.map(nodes.String),
        "Decimal": st.one_of(
            DECIMAL_TEXT.map(nodes.String),
            st.integers(min_value=-(2**31), max_value=2**31 - 1).map(nodes.Int),
            st.floats(allow_nan=False, allow_infinity=False).map(nodes.Float),
        ),
        "DateTime": DATETIME_TEXT.map(nodes.String),
    }


def with_variables(document: graphql.DocumentNode) -> tuple[str, dict]:
    """The document with every field argument sent as a variable instead."""
    type_info = graphql.TypeInfo(SERVED_SCHEMA)
    definitions: list[graphql.VariableDefinitionNode] = []
    variables: dict = {}

    class Lift(graphql.Visitor):
        def enter_argument(self, node, *_):
            argument = type_info.get_argument()
            if argument is None:
                return None
            name = f"v{len(variables)}"
            variables[name] = graphql.value_from_ast_untyped(node.value)
            variable = graphql.VariableNode(name=graphql.NameNode(value=name))
            definitions.append(
                graphql.VariableDefinitionNode(
                    variable=variable, type=graphql.parse_type(str(argument.type))
                )
            )
            return graphql.ArgumentNode(name=node.name, value=variable)

    lifted = graphql.visit(document, graphql.TypeInfoVisitor(type_info, Lift()))
    [operation] = lifted.definitions
    operation.variable_definitions = tuple(definitions)
    return graphql.print_ast(lifted), variables


def assert_well_formed(status: int, content: bytes) -> None:
    assert status < 500, content
    body = json.loads(content)
    assert isinstance(body, dict), body
    assert "data" in body or "errors" in body, body
    for error in body.get("errors") or []:
        assert isinstance(error.get("message"), str), error
        assert error["message"], error
        code = (error.get("extensions") or {}).get("code")
        assert code != "INTERNAL_SERVER_ERROR", error
        assert code in KNOWN_CODES, error
        for fragment in RAW_EXCEPTION_TEXT:
            assert fragment not in error["message"], error


@dataclass
class Shop:
    """What generated documents are sent to: global IDs of its objects, and the
    Authorization headers of its clients."""

    ids: list[str]
    authorizations: list[str | None]

    def documents(self, kind, mode=hypothesis_graphql.Mode.POSITIVE):
        """A hypothesis-graphql strategy (``queries``, ``mutations``...)."""
        return kind(
            SERVED_SCHEMA,
            custom_scalars=scalars(self.ids),
            print_ast=lambda document: document,
            # NUL is an HTTP 400 before GraphQL (tests/schema/test_bad_input.py)
            allow_x00=False,
            mode=mode,
        )


@pytest.fixture
def shop(gql) -> Shop:
    """A small catalog (a hidden product too), a buyer and a superuser; clients
    without a token, with each user's, and with a bad one."""
    phones = CategoryFactory(name="Phones", slug="phones")
    make_product(
        name="Alpha Phone",
        category=phones,
        variants=[
            {"sku": "ALPHA-RED", "price": "499.00", "color": "Red"},
            {"sku": "ALPHA-BLUE", "price": "529.00", "color": "Blue"},
        ],
    )
    make_product(
        name="Desk Lamp", variants=[{"sku": "LAMP", "price": "19.99", "color": "Red"}]
    )
    make_product(name="Hidden", is_published=False, variants=[{"sku": "HIDDEN"}])
    buyer = UserFactory(email="ada@example.com")
    staff = UserFactory(email="boss@example.com", is_staff=True, is_superuser=True)
    ids = [
        to_base64(type_name, pk)
        for type_name, model in (
            ("Product", Product),
            ("ProductVariant", ProductVariant),
            ("Category", Category),
            ("Attribute", Attribute),
            ("AttributeValue", AttributeValue),
            ("User", User),
        )
        for pk in model.objects.values_list("pk", flat=True)
    ]
    tokens = [f"Bearer {get_token(user)}" for user in (buyer, staff)]
    return Shop(ids=ids, authorizations=[None, *tokens, "Bearer not-a-token"])


def send(gql, data, shop: Shop, document: graphql.DocumentNode) -> None:
    """POST the document as one of the shop's clients, its arguments inline or as
    variables; the answer must be well-formed."""
    gql.authorize(data.draw(st.sampled_from(shop.authorizations), label="client"))
    if data.draw(st.booleans(), label="as variables"):
        query, variables = with_variables(document)
    else:
        query, variables = graphql.print_ast(document), {}
    note(f"query: {query}")
    note(f"variables: {json.dumps(variables)}")
    response = gql.http.post(
        "/graphql/",
        json.dumps({"query": query, "variables": variables}),
        content_type="application/json",
        **gql.headers,
    )
    assert_well_formed(response.status_code, response.content)


@settings(FUZZ_SETTINGS, max_examples=250)
@given(data=st.data())
def test_generated_queries(gql, shop, data):
    send(gql, data, shop, data.draw(shop.documents(hypothesis_graphql.queries)))


@settings(FUZZ_SETTINGS, max_examples=250)
@given(data=st.data())
def test_generated_mutations(gql, shop, data, stripe_fake):
    send(gql, data, shop, data.draw(shop.documents(hypothesis_graphql.mutations)))


@settings(FUZZ_SETTINGS, max_examples=100)
@given(data=st.data())
def test_documents_with_one_schema_violation(gql, shop, data):
    violating = shop.documents(
        hypothesis_graphql.from_schema, mode=hypothesis_graphql.Mode.NEGATIVE
    )
    send(gql, data, shop, data.draw(violating))
