"""Automatic persisted queries (Apollo's protocol) over POST and GET, the
allow-list mode (GRAPHQL_PERSISTED_QUERIES_ONLY), the persisted_queries command,
and what happens while Redis does not answer."""

import asyncio
import hashlib
import json
import socket
from io import StringIO

import pytest
import redis
from django.core.management import CommandError, call_command
from django.test import Client
from django_redis import get_redis_connection
from strawberry.relay import to_base64

from schema.persisted import refusal_over_socket
from shop.catalog import cache_tags
from shop.core import persisted_queries
from shop.core.persisted_queries import (
    ALLOWED_PREFIX,
    AUTO_PREFIX,
    alookup,
    lookup,
)
from tests.factories import make_product

PRODUCT = "query Product($slug: String!) { product(slug: $slug) { name } }"
NAMES = (
    "query Names { products(first: 5, ordering: [{name: ASC}]) "
    "{ edges { node { name } } } }"
)
CART_ADD = """mutation CartAdd($lines: [CartLineInput!]!) {
  cartLinesAdd(lines: $lines) { cart { token totalQuantity } errors { code } }
}"""
NOT_FOUND_BODY = {
    "errors": [
        {
            "message": "PersistedQueryNotFound",
            "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"},
        }
    ]
}


def sha(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


def apq(document: str, version=1) -> dict:
    return {"persistedQuery": {"version": version, "sha256Hash": sha(document)}}


class Http:
    """A storefront speaking the protocol, as Apollo Client's link does."""

    def __init__(self) -> None:
        self.client = Client()

    def post(self, **body):
        return self.client.post(
            "/graphql/", json.dumps(body), content_type="application/json"
        )

    def get(self, accept="application/json", **params):
        query = {
            key: value if isinstance(value, str) else json.dumps(value)
            for key, value in params.items()
        }
        return self.client.get("/graphql/", query, HTTP_ACCEPT=accept)


@pytest.fixture(autouse=True)
def _nothing_remembered():
    """Each test starts with a process that remembers no document."""
    persisted_queries.forget_all_in_process()
    yield
    persisted_queries.forget_all_in_process()


@pytest.fixture
def http(db) -> Http:
    return Http()


@pytest.fixture
def catalog(db):
    return [
        make_product(name="Kettle", slug="kettle", variants=[{"price": "30"}]),
        make_product(name="Teapot", slug="teapot", variants=[{"price": "20"}]),
    ]


def stored(prefix: str = AUTO_PREFIX) -> dict[str, str]:
    store = get_redis_connection("default")
    return {
        key.decode().removeprefix(prefix): store.get(key).decode()
        for key in store.scan_iter(match=prefix + "*")
    }


# ---------------------------------------------------------------- the protocol


@pytest.mark.parametrize("method", ["post", "get"])
def test_an_unknown_hash_answers_persisted_query_not_found(http, method):
    response = getattr(http, method)(
        extensions=apq(PRODUCT), variables={"slug": "kettle"}
    )
    assert response.status_code == 200
    # Exactly Apollo's answer: the link retries on this message or code.
    assert response.json() == NOT_FOUND_BODY
    assert "no-store" in response["Cache-Control"]
    assert stored() == {}


def test_post_registers_a_document_then_runs_it_by_hash(http, catalog, settings):
    settings.GRAPHQL_APQ_TTL_SECONDS = 3600
    first = http.post(
        query=PRODUCT, variables={"slug": "kettle"}, extensions=apq(PRODUCT)
    )
    assert first.json() == {"data": {"product": {"name": "Kettle"}}}
    assert stored() == {sha(PRODUCT): PRODUCT}
    ttl = get_redis_connection("default").ttl(AUTO_PREFIX + sha(PRODUCT))
    assert 3590 <= ttl <= 3600

    # By hash alone, with other variables; another process (nothing remembered)
    # finds it in Redis too.
    persisted_queries.forget_all_in_process()
    by_hash = http.post(variables={"slug": "teapot"}, extensions=apq(PRODUCT))
    assert by_hash.status_code == 200
    assert by_hash.json() == {"data": {"product": {"name": "Teapot"}}}


def test_get_runs_a_registered_query_by_hash_for_caches_to_keep(http, catalog):
    http.post(query=NAMES, extensions=apq(NAMES), operationName="Names")
    response = http.get(extensions=apq(NAMES), operationName="Names")
    assert response.status_code == 200
    assert response.json() == {
        "data": {
            "products": {
                "edges": [{"node": {"name": "Kettle"}}, {"node": {"name": "Teapot"}}]
            }
        }
    }
    # A browser-like Accept gets the answer too, not GraphiQL's page.
    assert http.get(extensions=apq(NAMES), accept="*/*").json() == response.json()
    assert (
        http.get(extensions=apq(NAMES), accept="text/html,application/xhtml+xml").json()
        == response.json()
    )


def test_get_with_document_and_hash_registers_it_and_variables_apply(http, catalog):
    response = http.get(
        query=PRODUCT, variables={"slug": "teapot"}, extensions=apq(PRODUCT)
    )
    assert response.json() == {"data": {"product": {"name": "Teapot"}}}
    assert stored() == {sha(PRODUCT): PRODUCT}
    again = http.get(variables={"slug": "kettle"}, extensions=apq(PRODUCT))
    assert again.json() == {"data": {"product": {"name": "Kettle"}}}


def test_plain_documents_still_run_over_post_and_get(http, catalog):
    assert http.post(query=NAMES).json()["data"]["products"]["edges"][0] == {
        "node": {"name": "Kettle"}
    }
    assert http.get(query=PRODUCT, variables={"slug": "kettle"}).json() == {
        "data": {"product": {"name": "Kettle"}}
    }
    assert stored() == {}


@pytest.mark.parametrize("method", ["post", "get"])
def test_a_hash_that_is_not_the_documents_is_refused(http, catalog, method):
    response = getattr(http, method)(
        query=PRODUCT, variables={"slug": "kettle"}, extensions=apq(NAMES)
    )
    assert response.status_code == 400
    assert response.json() == {
        "errors": [
            {
                "message": "provided sha does not match query",
                "extensions": {"code": "PERSISTED_QUERY_HASH_MISMATCH"},
            }
        ]
    }
    assert stored() == {}
    # Nothing was registered under the hash it claimed either.
    assert http.post(extensions=apq(NAMES)).json() == NOT_FOUND_BODY


@pytest.mark.parametrize("version", [2, 0, "1", True, None])
def test_a_version_other_than_1_is_refused(http, catalog, version):
    response = http.post(query=NAMES, extensions=apq(NAMES, version=version))
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"] == {
        "code": "PERSISTED_QUERY_VERSION_NOT_SUPPORTED"
    }
    assert "data" not in response.json()
    assert stored() == {}


@pytest.mark.parametrize(
    "persisted",
    [
        "abc",
        [],
        {"version": 1},
        {"version": 1, "sha256Hash": "abc"},
        {"version": 1, "sha256Hash": sha(NAMES)[:-1] + "g"},
        {"version": 1, "sha256Hash": 12},
    ],
)
def test_a_malformed_persisted_query_is_refused(http, persisted):
    response = http.post(query=NAMES, extensions={"persistedQuery": persisted})
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"] == {
        "code": "PERSISTED_QUERY_INVALID"
    }


def test_the_hash_may_be_upper_case(http, catalog):
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": sha(NAMES).upper()}}
    assert "data" in http.post(query=NAMES, extensions=extensions).json()
    assert stored() == {sha(NAMES): NAMES}
    assert "data" in http.post(extensions=extensions).json()


def cart_keys() -> list[bytes]:
    return sorted(get_redis_connection("default").scan_iter(match="cart:*"))


def test_a_persisted_mutation_runs_over_post_and_is_refused_over_get(http, catalog):
    variant = catalog[0].variants.get()
    variables = {
        "lines": [{"variantId": to_base64("ProductVariant", variant.pk), "quantity": 1}]
    }
    registered = http.post(
        query=CART_ADD, variables=variables, extensions=apq(CART_ADD)
    )
    assert registered.json()["data"]["cartLinesAdd"]["errors"] == []
    assert stored() == {sha(CART_ADD): CART_ADD}
    carts = cart_keys()
    assert len(carts) == 1

    by_get = http.get(variables=variables, extensions=apq(CART_ADD))
    assert by_get.status_code == 405  # GraphQL over HTTP: a mutation is a POST
    assert by_get["Allow"] == "POST"
    assert by_get.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"
    assert cart_keys() == carts

    by_post = http.post(variables=variables, extensions=apq(CART_ADD))
    assert by_post.json()["data"]["cartLinesAdd"]["cart"]["totalQuantity"] == 1
    assert len(cart_keys()) == 2


def test_a_mutation_cannot_be_registered_over_get(http, catalog):
    response = http.get(
        query=CART_ADD, variables={"lines": []}, extensions=apq(CART_ADD)
    )
    assert response.status_code == 405
    assert stored() == {}


@pytest.mark.parametrize(
    "document",
    [
        "query { products(first: 1) { edges { node { name } }",  # does not parse
        "query { nothingLikeThis }",  # does not validate
        "query { products(first: 1) { edges { node { name } } } }" + " #" * 10,
    ],
)
def test_only_a_document_that_parsed_and_validated_is_registered(
    http, catalog, settings, document
):
    settings.GRAPHQL_MAX_TOKENS = 15  # the last document is over it
    response = http.post(query=document, extensions=apq(document))
    assert response.status_code == 200
    codes = [error["extensions"]["code"] for error in response.json()["errors"]]
    assert codes in (["GRAPHQL_PARSE_FAILED"], ["GRAPHQL_VALIDATION_FAILED"])
    assert stored() == {}
    assert http.post(extensions=apq(document)).json() == NOT_FOUND_BODY


def test_the_token_limit_holds_for_a_document_named_by_hash(http, catalog, settings):
    http.post(query=NAMES, extensions=apq(NAMES))
    settings.GRAPHQL_MAX_TOKENS = 5
    response = http.post(extensions=apq(NAMES))
    assert [e["extensions"]["code"] for e in response.json()["errors"]] == [
        "GRAPHQL_PARSE_FAILED"
    ]


def test_a_document_that_ran_with_a_field_error_is_registered(http, catalog):
    """Its errors have a path: the document itself was fine."""
    document = (
        'query { node(id: "bm90LWFuLWlk") { id } products(first: 1) { totalCount } }'
    )
    response = http.post(query=document, extensions=apq(document))
    assert response.json()["data"] is not None
    assert stored() == {sha(document): document}


def test_a_very_long_document_runs_but_is_not_kept(http, catalog):
    document = f'query {{ product(slug: "{"x" * 70_000}") {{ name }} }}'
    response = http.post(query=document, extensions=apq(document))
    assert response.json() == {"data": {"product": None}}
    assert stored() == {}


def test_a_lone_surrogate_is_answered_not_kept(http, catalog):
    document = 'query { product(slug: "\ud800") { name } }'
    sha256_hash = hashlib.sha256(document.encode(errors="surrogatepass")).hexdigest()
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": sha256_hash}}
    response = http.post(query=document, extensions=extensions)
    assert response.status_code == 200
    assert stored() == {}
    mismatch = http.post(query=document, extensions=apq("{ x }"))
    assert mismatch.status_code == 400


def _documents(count: int, start: int = 0) -> list[str]:
    return [
        f"query D{number} {{ products(first: {number % 50 + 1}) {{ totalCount }} }}"
        for number in range(start, start + count)
    ]


def _register_as(client: Client, document: str):
    response = client.post(
        "/graphql/",
        json.dumps({"query": document, "extensions": apq(document)}),
        content_type="application/json",
    )
    assert response.json()["data"]["products"]["totalCount"] == 2
    return response


def test_one_client_registers_at_most_its_quota_of_new_documents(catalog, settings):
    settings.GRAPHQL_APQ_REGISTRATIONS_PER_CLIENT = 2
    client = Client(REMOTE_ADDR="203.0.113.7")
    documents = _documents(3)
    for document in documents:
        _register_as(client, document)  # each runs, registered or not

    assert set(stored()) == {sha(documents[0]), sha(documents[1])}
    # Sending a registered document again registers nothing new.
    _register_as(client, documents[0])
    # The client gets PersistedQueryNotFound for the third and keeps sending it in
    # full; another client has a quota of its own.
    persisted_queries.forget_all_in_process()
    assert Http().post(extensions=apq(documents[2])).json() == NOT_FOUND_BODY
    _register_as(Client(REMOTE_ADDR="203.0.113.8"), documents[2])
    assert set(stored()) == {sha(document) for document in documents}
    window = get_redis_connection("default").ttl(
        next(get_redis_connection("default").scan_iter(match="apq:budget:client:*"))
    )
    assert 0 < window <= settings.GRAPHQL_APQ_TTL_SECONDS


def test_a_client_s_ipv6_network_shares_one_registration_quota(catalog, settings):
    settings.GRAPHQL_APQ_REGISTRATIONS_PER_CLIENT = 1
    first, second, third = _documents(3)
    _register_as(Client(REMOTE_ADDR="2001:db8:5:6::1"), first)
    _register_as(Client(REMOTE_ADDR="2001:db8:5:6:ffff::2"), second)  # same /64
    _register_as(Client(REMOTE_ADDR="2001:db8:5:7::1"), third)
    assert set(stored()) == {sha(first), sha(third)}


def test_all_clients_together_register_at_most_the_total_bytes(catalog, settings):
    documents = _documents(4)
    size = len(documents[0].encode())
    assert {len(document.encode()) for document in documents} == {size}
    settings.GRAPHQL_APQ_REGISTERED_BYTES = 3 * size
    for number, document in enumerate(documents):
        _register_as(Client(REMOTE_ADDR=f"198.51.100.{number}"), document)
    assert set(stored()) == {sha(document) for document in documents[:3]}


def test_the_request_line_names_the_miss(http, log_output):
    http.post(extensions=apq(NAMES))
    assert log_output.request_line()["errors"] == ["PERSISTED_QUERY_NOT_FOUND"]


def test_lookup_for_layers_in_front_of_the_view(http, catalog, settings):
    """shop.core.persisted_queries.lookup / alookup: what a hash runs."""
    assert lookup(sha(NAMES)) is None
    http.post(query=NAMES, extensions=apq(NAMES))
    assert lookup(sha(NAMES)) == NAMES
    assert lookup(sha(NAMES).upper()) == NAMES
    assert asyncio.run(alookup(sha(NAMES))) == NAMES
    persisted_queries.forget_all_in_process()
    assert asyncio.run(alookup(sha(NAMES))) == NAMES
    settings.GRAPHQL_PERSISTED_QUERIES_ONLY = True
    assert lookup(sha(NAMES)) is None  # registered by a client: not allow-listed


# ---------------------------------------------------------------- allow-list mode


@pytest.fixture
def allow_list_only(settings):
    settings.GRAPHQL_PERSISTED_QUERIES_ONLY = True


def register(*documents: str) -> None:
    persisted_queries.allow(list(documents))


NOT_ALLOWED = "PERSISTED_QUERY_NOT_ALLOWED"


def test_allow_list_mode_runs_registered_documents_by_hash_or_in_full(
    http, catalog, allow_list_only
):
    register(PRODUCT)
    for response in (
        http.post(variables={"slug": "kettle"}, extensions=apq(PRODUCT)),
        http.get(variables={"slug": "kettle"}, extensions=apq(PRODUCT)),
        http.post(query=PRODUCT, variables={"slug": "kettle"}),
        http.post(query=PRODUCT, variables={"slug": "kettle"}, extensions=apq(PRODUCT)),
        http.get(query=PRODUCT, variables={"slug": "kettle"}),
    ):
        assert response.status_code == 200
        assert response.json() == {"data": {"product": {"name": "Kettle"}}}
    assert stored() == {}


@pytest.mark.parametrize("with_hash", [False, True])
@pytest.mark.parametrize("method", ["post", "get"])
def test_allow_list_mode_refuses_any_other_document(
    http, catalog, allow_list_only, with_hash, method
):
    register(PRODUCT)
    extensions = apq(NAMES) if with_hash else None
    params = {"query": NAMES} | ({"extensions": extensions} if with_hash else {})
    response = getattr(http, method)(**params)
    assert response.status_code == 200
    body = response.json()
    assert "data" not in body
    assert [error["extensions"]["code"] for error in body["errors"]] == [NOT_ALLOWED]
    assert "registered" in body["errors"][0]["message"]
    # Nothing was registered by asking.
    assert stored() == {}
    assert stored(ALLOWED_PREFIX) == {sha(PRODUCT): PRODUCT}


def test_allow_list_mode_a_hash_miss_is_still_not_found(http, allow_list_only):
    assert http.post(extensions=apq(NAMES)).json() == NOT_FOUND_BODY


def test_allow_list_mode_ignores_documents_clients_registered_before(
    http, catalog, settings
):
    http.post(query=NAMES, extensions=apq(NAMES))
    assert stored() == {sha(NAMES): NAMES}
    settings.GRAPHQL_PERSISTED_QUERIES_ONLY = True
    assert http.post(extensions=apq(NAMES)).json() == NOT_FOUND_BODY
    refused = http.post(query=NAMES, extensions=apq(NAMES)).json()
    assert refused["errors"][0]["extensions"]["code"] == NOT_ALLOWED


def test_allow_listed_documents_run_without_the_mode_and_never_expire(http, catalog):
    register(NAMES)
    assert get_redis_connection("default").ttl(ALLOWED_PREFIX + sha(NAMES)) == -1
    response = http.post(extensions=apq(NAMES))
    assert len(response.json()["data"]["products"]["edges"]) == 2


def test_graphiql_in_allow_list_mode_is_served_but_its_documents_refused(
    http, allow_list_only, settings
):
    settings.GRAPHQL_GRAPHIQL = True
    page = http.client.get("/graphql/", HTTP_ACCEPT="text/html")
    assert page.status_code == 200
    assert b"graphiql" in page.content.lower()
    introspection = http.post(query="{ __schema { queryType { name } } }").json()
    assert introspection["errors"][0]["extensions"]["code"] == NOT_ALLOWED


def test_over_websocket_the_allow_list_refuses_what_it_does_not_hold(
    db, settings, monkeypatch
):
    """schema.persisted.refusal_over_socket, for the WebSocket handler."""
    register(PRODUCT)
    assert asyncio.run(refusal_over_socket(NAMES)) is None  # the mode is off
    settings.GRAPHQL_PERSISTED_QUERIES_ONLY = True
    assert asyncio.run(refusal_over_socket(PRODUCT)) is None
    refused = asyncio.run(refusal_over_socket(NAMES))
    assert refused.extensions == {"code": NOT_ALLOWED}
    dead = redis.Redis(host="127.0.0.1", port=closed_port(), socket_timeout=1)
    monkeypatch.setattr(persisted_queries, "get_redis_connection", lambda _: dead)
    assert asyncio.run(refusal_over_socket(PRODUCT)) is None  # known here
    unavailable = asyncio.run(refusal_over_socket(NAMES))
    assert unavailable.extensions == {"code": "SERVICE_UNAVAILABLE"}


# ---------------------------------------------------------------- the command

MANIFEST_OPERATIONS = [
    {"id": sha(NAMES), "name": "Names", "type": "query", "body": NAMES},
    {"id": sha(CART_ADD), "name": "CartAdd", "type": "mutation", "body": CART_ADD},
]


def manifest(tmp_path, operations=None, **fields):
    path = tmp_path / "persisted-query-manifest.json"
    path.write_text(
        json.dumps(
            {
                "format": "apollo-persisted-query-manifest",
                "version": 1,
                "operations": MANIFEST_OPERATIONS if operations is None else operations,
                **fields,
            }
        )
    )
    return path


def run_command(*args) -> str:
    out = StringIO()
    call_command("persisted_queries", *args, stdout=out)
    return out.getvalue()


def test_the_command_registers_a_manifest_and_graphql_files(
    http, catalog, tmp_path, allow_list_only
):
    graphql_file = tmp_path / "product.graphql"
    graphql_file.write_text(PRODUCT + "\n")
    output = run_command("register", str(manifest(tmp_path)), str(graphql_file))
    assert "3 registered" in output
    assert stored(ALLOWED_PREFIX) == {
        sha(NAMES): NAMES,
        sha(CART_ADD): CART_ADD,
        sha(PRODUCT + "\n"): PRODUCT + "\n",
    }
    assert "edges" in json.dumps(http.post(extensions=apq(NAMES)).json())
    by_file = http.post(query=PRODUCT + "\n", variables={"slug": "teapot"})
    assert by_file.json() == {"data": {"product": {"name": "Teapot"}}}

    again = run_command("register", str(manifest(tmp_path)))
    assert "0 registered, 2 already registered" in again

    listed = run_command("list")
    assert f"{sha(NAMES)}  query Names" in listed
    assert f"{sha(CART_ADD)}  mutation CartAdd" in listed
    assert "3 documents" in listed

    everything = cache_tags.tag_key_prefix() + cache_tags.ALL
    version = get_redis_connection("default").get(everything)
    assert "1 removed" in run_command("remove", sha(NAMES))
    persisted_queries.forget_all_in_process()  # as every process does within 60 s
    assert http.post(extensions=apq(NAMES)).json() == NOT_FOUND_BODY
    # Answers the response cache kept for it are no longer served.
    assert get_redis_connection("default").get(everything) not in (
        None,
        version,
    )


@pytest.mark.parametrize(
    ("operations", "fields", "message"),
    [
        (
            [{"id": "0" * 64, "name": "Names", "type": "query", "body": NAMES}],
            {},
            "is not the SHA-256 of its body",
        ),
        (
            [{"id": sha(NAMES), "name": "Names", "type": "mutation", "body": NAMES}],
            {},
            "is a query, not a mutation",
        ),
        (
            [{"id": sha("{ x"), "name": "X", "type": "query", "body": "{ x"}],
            {},
            "Syntax Error",
        ),
        (
            [
                {
                    "id": sha("{ nothingLikeThis }"),
                    "name": None,
                    "type": "query",
                    "body": "{ nothingLikeThis }",
                }
            ],
            {},
            "Cannot query field 'nothingLikeThis'",
        ),
        (None, {"format": "something-else"}, "apollo-persisted-query-manifest"),
        ([{"name": "Names"}], {}, "id, name, type and body"),
    ],
)
def test_the_command_refuses_a_wrong_manifest_and_registers_nothing(
    db, tmp_path, operations, fields, message
):
    good_then_bad = MANIFEST_OPERATIONS[:1] + (operations or [])
    path = manifest(tmp_path, good_then_bad if operations else None, **fields)
    with pytest.raises(CommandError, match=message):
        run_command("register", str(path))
    assert stored(ALLOWED_PREFIX) == {}


def test_the_command_refuses_a_document_over_the_token_limit(db, tmp_path, settings):
    settings.GRAPHQL_MAX_TOKENS = 5
    path = tmp_path / "names.graphql"
    path.write_text(NAMES)
    with pytest.raises(CommandError, match="more than 5 tokens"):
        run_command("register", str(path))
    assert stored(ALLOWED_PREFIX) == {}


# ---------------------------------------------------------------- Redis down


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def redis_down(monkeypatch):
    """The persisted queries' Redis does not answer (a port nobody listens on)."""
    dead = redis.Redis(host="127.0.0.1", port=closed_port(), socket_timeout=1)
    monkeypatch.setattr(persisted_queries, "get_redis_connection", lambda _: dead)


def test_redis_down_a_hash_is_not_found_and_the_full_document_runs(
    http, catalog, redis_down, log_output
):
    assert http.post(extensions=apq(NAMES)).json() == NOT_FOUND_BODY
    response = http.post(query=NAMES, extensions=apq(NAMES))
    assert response.status_code == 200
    assert len(response.json()["data"]["products"]["edges"]) == 2
    outages = [line for line in log_output.lines() if line.get("dependency")]
    assert {line["dependency"] for line in outages} == {"redis"}
    assert "Traceback" not in log_output.text


def test_redis_down_a_document_this_process_knows_still_runs(
    http, catalog, monkeypatch
):
    http.post(query=NAMES, extensions=apq(NAMES))
    dead = redis.Redis(host="127.0.0.1", port=closed_port(), socket_timeout=1)
    monkeypatch.setattr(persisted_queries, "get_redis_connection", lambda _: dead)
    monkeypatch.setattr(persisted_queries, "LOCAL_SECONDS", 0)  # asks Redis first
    response = http.post(extensions=apq(NAMES))
    assert len(response.json()["data"]["products"]["edges"]) == 2


def test_redis_down_allow_list_mode_refuses_with_service_unavailable(
    http, catalog, allow_list_only, redis_down
):
    for response in (
        http.post(extensions=apq(NAMES)),
        http.post(query=NAMES),
        http.post(query=NAMES, extensions=apq(NAMES)),
    ):
        assert response.status_code == 200
        [error] = response.json()["errors"]
        assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE"
        assert error["extensions"]["requestId"] == response["X-Request-ID"]
        assert "data" not in response.json()
