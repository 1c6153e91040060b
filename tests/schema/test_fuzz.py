"""Generated requests against /graphql/: never a 5xx, always a well-formed answer.

Every request goes through the whole ASGI application (shop.asgi.application) as a
server hands it over, the response cache in front of Django included and on: what
answers before Django is held to the same bar as Django.

hypothesis-graphql writes queries and mutations from the served schema, with
generated arguments (inline, or lifted into variables as clients send them), sent
by POST (queries by GET too) as anonymous, signed-in, staff and bad-token clients
on a small catalog. Every answer must be JSON with ``data`` and/or ``errors``;
every error needs a message and a known ``extensions.code``; INTERNAL_SERVER_ERROR
(a bug) and raw Python exception text never reach a client.

Raw requests add what no GraphQL client writes: lone surrogates (``"\\ud800"``,
valid JSON but no UTF-8), NULs and bytes that are not UTF-8, in the body, the
query string and the headers. They must never get a 5xx either.
"""

import base64
import hashlib
import json
from dataclasses import dataclass
from urllib.parse import urlencode

import graphql
import hypothesis_graphql
import pytest
from graphql_jwt.shortcuts import get_token
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st
from hypothesis_graphql import nodes
from strawberry.relay import to_base64

from schema import schema
from schema.cart.resolvers import SERVICE_UNAVAILABLE
from schema.extensions import PARSE_FAILED, QUERY_TOO_COMPLEX, VALIDATION_FAILED
from schema.permissions import FORBIDDEN, UNAUTHENTICATED
from shop.accounts.models import User
from shop.asgi import application
from shop.catalog.models import (
    Attribute,
    AttributeValue,
    Category,
    Product,
    ProductVariant,
)
from shop.core.errors import ErrorCode
from tests.asgi_helpers import Response, asgi_call
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
        # A JSON request cannot carry a file: whatever stands for one is refused.
        "Upload": TEXT.map(nodes.String),
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


@pytest.fixture(autouse=True)
def _response_cache_on(settings):
    """What answers before Django is fuzzed too."""
    settings.GRAPHQL_RESPONSE_CACHE = True


@pytest.fixture
def shop(db) -> Shop:
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


def send(data, shop: Shop, document: graphql.DocumentNode) -> None:
    """Send the document as one of the shop's clients, its arguments inline or as
    variables, by POST (a query by GET too); the answer must be well-formed."""
    authorization = data.draw(st.sampled_from(shop.authorizations), label="client")
    if data.draw(st.booleans(), label="as variables"):
        query, variables = with_variables(document)
    else:
        query, variables = graphql.print_ast(document), {}
    note(f"query: {query}")
    note(f"variables: {json.dumps(variables)}")
    headers = {} if authorization is None else {"authorization": authorization}
    is_query = document.definitions[0].operation == graphql.OperationType.QUERY
    if is_query and data.draw(st.booleans(), label="by GET"):
        params = {"query": query, "variables": json.dumps(variables)}
        response = asgi_call(
            application,
            "GET",
            query_string=urlencode(params, errors="surrogatepass").encode(),
            headers=headers,
        )
    else:
        response = asgi_call(
            application,
            "POST",
            body=json.dumps({"query": query, "variables": variables}).encode(),
            headers={"content-type": "application/json", **headers},
        )
    assert_well_formed(response.status, response.body)


@settings(FUZZ_SETTINGS, max_examples=250)
@given(data=st.data())
def test_generated_queries(shop, data):
    send(data, shop, data.draw(shop.documents(hypothesis_graphql.queries)))


@settings(FUZZ_SETTINGS, max_examples=250)
@given(data=st.data())
def test_generated_mutations(shop, data, stripe_fake):
    send(data, shop, data.draw(shop.documents(hypothesis_graphql.mutations)))


@settings(FUZZ_SETTINGS, max_examples=100)
@given(data=st.data())
def test_documents_with_one_schema_violation(shop, data):
    violating = shop.documents(
        hypothesis_graphql.from_schema, mode=hypothesis_graphql.Mode.NEGATIVE
    )
    send(data, shop, data.draw(violating))


# ---------------------------------------------------------------- raw requests

# Documents the cache answers (so that keying, lookup, storing and hits all meet
# the strings below), one it does not, and text.
CACHED_DOCUMENTS = [
    "query Slug($slug: String) { product(slug: $slug) { name } }",
    "query List($first: Int, $filter: ProductFilter) "
    "{ products(first: $first, filter: $filter) { edges { node { name } } } }",
    "{ categories { name } }",
    "{ me { email } }",
]

# Strings no client writes: lone surrogates (valid JSON escapes, no UTF-8), NULs,
# controls, replacement characters, and ordinary text.
NASTY_TEXT = st.one_of(
    st.sampled_from(
        [
            "\ud800",
            "\udfff",
            "a\ud800b",
            "\x00",
            "a\x00b",
            "\x00\ud800",
            "\ufffd",
            "\uffff",
            "\u2028",
            "",
            "Slug",
            "List",
            "lamp",
        ]
    ),
    st.text(st.characters(codec=None, categories=["Cs", "Cc", "Co"]), max_size=4),
    st.text(max_size=8),
)

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | NASTY_TEXT,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(NASTY_TEXT, children, max_size=3)
    ),
    max_leaves=8,
)

# Bytes that are not UTF-8: a lone surrogate's own bytes, stray continuation
# bytes, a truncated sequence, Latin-1.
BAD_BYTES = st.one_of(
    st.sampled_from(
        [b"\xed\xa0\x80", b"\x80", b"\xff\xfe", b"\xc3", b"caf\xe9", b"\x00"]
    ),
    st.binary(max_size=12),
)


def _extensions(document: str | None) -> st.SearchStrategy:
    """Nothing, a persisted query naming the document's hash, or nonsense."""
    own_hash = hashlib.sha256(
        (document or "").encode(errors="surrogatepass")
    ).hexdigest()
    return st.one_of(
        st.just(None),
        st.just(None),
        st.just(None),
        st.just({"persistedQuery": {"version": 1, "sha256Hash": own_hash}}),
        st.builds(
            lambda sha256, version: {
                "persistedQuery": {"version": version, "sha256Hash": sha256}
            },
            NASTY_TEXT,
            st.sampled_from([1, 2, "1", None]),
        ),
        JSON_VALUES,
    )


MOSTLY = st.sampled_from([True, True, True, False])


def _with_more(known: st.SearchStrategy[dict]) -> st.SearchStrategy[dict]:
    """``known`` keys and nasty ones besides (undeclared variables, unknown
    input fields)."""
    return st.builds(
        lambda extra, given: {**extra, **given},
        st.dictionaries(NASTY_TEXT, JSON_VALUES, max_size=2),
        known,
    )


# The variables of CACHED_DOCUMENTS, with nasty values.
_OPTIONAL_VARIABLES = {
    "first": st.integers(-2, 200) | NASTY_TEXT,
    "filter": _with_more(
        st.fixed_dictionaries(
            {}, optional={"search": NASTY_TEXT, "minPrice": NASTY_TEXT}
        )
    ),
}
VARIABLES = st.one_of(
    st.fixed_dictionaries({"slug": NASTY_TEXT}, optional=_OPTIONAL_VARIABLES),
    st.fixed_dictionaries({}, optional={"slug": NASTY_TEXT, **_OPTIONAL_VARIABLES}),
)


# A request the cache keeps (Django answers it without errors), carrying text
# that is odd but not refused and undeclared variables that are nasty: keying,
# storing and hits meet them (each request is sent twice).
CACHEABLE = st.builds(
    lambda slug, junk, hashed: {
        "query": CACHED_DOCUMENTS[0],
        "variables": {**junk, "slug": slug},
        **(
            {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": SLUG_HASH}}}
            if hashed
            else {}
        ),
    },
    st.text(st.characters(exclude_categories=["Cs", "Cc"]), max_size=6),
    st.dictionaries(NASTY_TEXT, JSON_VALUES, max_size=2),
    st.booleans(),
)
SLUG_HASH = hashlib.sha256(CACHED_DOCUMENTS[0].encode()).hexdigest()


@st.composite
def payloads(draw) -> dict:
    """A GraphQL request's JSON object, with nasty strings anywhere."""
    if draw(st.integers(0, 9)) < 3:
        return draw(CACHEABLE)
    document = draw(st.one_of(st.sampled_from(CACHED_DOCUMENTS), NASTY_TEXT))
    payload: dict = {}
    if draw(MOSTLY):
        payload["query"] = document
    if draw(st.booleans()):
        payload["variables"] = draw(st.one_of(_with_more(VARIABLES), JSON_VALUES))
    if draw(st.booleans()):
        payload["operationName"] = draw(NASTY_TEXT | st.none())
    extensions = draw(_extensions(document))
    if extensions is not None:
        payload["extensions"] = extensions
    return payload


def _spliced(data, encoded: bytes) -> bytes:
    """``encoded`` with bad bytes put in at a drawn place."""
    at = data.draw(st.integers(0, len(encoded)), label="at")
    return encoded[:at] + data.draw(BAD_BYTES, label="bad bytes") + encoded[at:]


def raw_body(data) -> bytes:
    payload = data.draw(payloads(), label="payload")
    encoded = json.dumps(payload).encode()  # "\ud800" and "\u0000" as escapes
    kind = data.draw(
        st.sampled_from(["json", "json", "json", "spliced", "bytes"]), label="body"
    )
    if kind == "spliced":
        return _spliced(data, encoded)
    if kind == "bytes":
        return data.draw(st.binary(max_size=64), label="raw bytes")
    return encoded


def raw_query_string(data) -> bytes:
    payload = data.draw(payloads(), label="payload")
    params = {
        name: value if isinstance(value, str) else json.dumps(value)
        for name, value in payload.items()
    }
    # A lone surrogate as the bytes it would be, %ED%A0%80; NUL as %00.
    encoded = urlencode(params, errors="surrogatepass").encode()
    kind = data.draw(
        st.sampled_from(["encoded", "encoded", "encoded", "spliced", "bytes"]),
        label="query string",
    )
    if kind == "spliced":
        return _spliced(data, encoded)
    if kind == "bytes":
        return data.draw(st.binary(max_size=64), label="raw query string")
    return encoded


HEADER_NAMES = [
    b"content-type",
    b"accept",
    b"origin",
    b"host",
    b"x-request-id",
    b"x-forwarded-for",
    b"x-forwarded-proto",
    b"x-forwarded-host",
    b"authorization",
    b"cookie",
    b"user-agent",
]  # not Content-Length: the server frames the body by it and refuses a bad one
HEADER_VALUES = st.one_of(
    st.sampled_from(
        [
            b"application/json",
            b"application/json; charset=utf-8",
            b"text/plain; x=application/json",
            b"application/json; charset=\xff",
            b"localhost",
            b"https",
            b"Bearer x",
            b"text/html",
            b"multipart/mixed",
        ]
    ),
    NASTY_TEXT.map(lambda text: text.encode(errors="surrogatepass")),
    BAD_BYTES,
    st.builds(
        lambda good, bad: good + bad,
        st.sampled_from([b"application/json", b"localhost", b"abc"]),
        BAD_BYTES,
    ),
)


def raw_headers(data, *, post: bool) -> list[tuple[bytes, bytes]]:
    headers = [(b"host", b"localhost")]
    if post:
        headers.append((b"content-type", b"application/json"))
    extra = data.draw(
        st.lists(st.tuples(st.sampled_from(HEADER_NAMES), HEADER_VALUES), max_size=3)
        | st.just([]),
        label="headers",
    )
    replaced = {name for name, _ in extra if name in (b"host", b"content-type")}
    return [(n, v) for n, v in headers if n not in replaced] + extra


def assert_never_a_server_error(response: Response) -> None:
    assert response.status < 500, response
    if response.headers.get("content-type", "").startswith("application/json"):
        body = json.loads(response.body)
        assert isinstance(body, dict), body
        for error in body.get("errors") or []:
            assert error["extensions"]["code"] != "INTERNAL_SERVER_ERROR", error


@settings(FUZZ_SETTINGS, max_examples=600)
@given(data=st.data())
def test_raw_requests_with_bad_text_and_bytes(shop, data):
    """Body, query string and headers with lone surrogates, NULs and bytes that
    are not UTF-8, through the response cache and Django: never a 5xx. Each is
    sent twice, so the second can meet what the first made the cache keep."""
    method = data.draw(st.sampled_from(["GET", "POST"]), label="method")
    post = method == "POST"
    request = {
        "headers": raw_headers(data, post=post),
        "client": data.draw(
            st.sampled_from(["127.0.0.1", "2001:db8::1", "", "not an address"]),
            label="client",
        ),
    }
    if post:
        request["body"] = raw_body(data)
    else:
        request["query_string"] = raw_query_string(data)
    note(f"request: {request}")
    for _ in range(2):
        response = asgi_call(application, method, **request)
        event(f"{response.status} X-Cache: {response.x_cache}")
        assert_never_a_server_error(response)
