"""Read replicas: DATABASE_REPLICA_URLS in the settings, where ReplicaRouter sends
each read, and real requests reading a second alias of the test database."""

import asyncio
import contextvars
import copy
import hashlib
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import HttpCommunicator
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.contrib.sessions.models import Session
from django.core.handlers.asgi import ASGIHandler
from django.db import connections, transaction
from django.db.backends.signals import connection_created
from django.http import HttpResponse
from django.test import Client, RequestFactory
from graphql_jwt.refresh_token.models import RefreshToken
from strawberry.relay import to_base64

from shop.accounts.models import User
from shop.catalog.models import Category, Product, ProductVariant, StockAdjustment
from shop.core import persisted_queries
from shop.core.db_routers import (
    ReplicaReadsMiddleware,
    ReplicaRouter,
    allow_replica_reads,
    replica_reads,
)
from shop.orders.models import Order, OrderLine
from shop.payments.models import Payment, StripeEvent
from shop.reviews.models import Review
from tests.factories import UserFactory, make_product
from tests.orders_helpers import ADDRESS_INPUT, guest_cart
from tests.reviews_helpers import review

ROOT = Path(__file__).resolve().parents[3]
ROUTER = "shop.core.db_routers.ReplicaRouter"
MIDDLEWARE = "shop.core.db_routers.ReplicaReadsMiddleware"
REPLICAS = ["replica1", "replica2"]

# ---------------------------------------------------------------- settings

PRINT_DATABASES = """
import json, django
django.setup()
from django.conf import settings as s
MIDDLEWARE = "shop.core.db_routers.ReplicaReadsMiddleware"
pools = [d.get("OPTIONS", {}).get("pool") for d in s.DATABASES.values()]
print(json.dumps({
    "databases": {
        alias: {
            "HOST": d.get("HOST"),
            "NAME": d.get("NAME"),
            "CONN_MAX_AGE": d.get("CONN_MAX_AGE"),
            "CONN_HEALTH_CHECKS": d.get("CONN_HEALTH_CHECKS"),
            "MIRROR": d.get("TEST", {}).get("MIRROR"),
            "pool": d.get("OPTIONS", {}).get("pool"),
        }
        for alias, d in s.DATABASES.items()
    },
    "separate_pools": len({id(p) for p in pools if p is not None}),
    "routers": s.DATABASE_ROUTERS,
    "replica_middleware": MIDDLEWARE in s.MIDDLEWARE,
}))
"""


def databases_for(**env: str) -> dict:
    """DATABASES, DATABASE_ROUTERS and MIDDLEWARE of a fresh process given ``env``."""
    clean = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "DATABASE_", "REDIS_", "DB_", "SQLITE_"))
    }
    result = subprocess.run(
        [sys.executable, "-c", PRINT_DATABASES],
        cwd=ROOT,
        env={
            **clean,
            "DJANGO_SETTINGS_MODULE": "shop.settings",
            "DJANGO_DEBUG": "true",
            **env,
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


PRIMARY = "postgres://shop:secret@db.internal:5432/shop"
TWO_REPLICAS = (
    "postgres://shop:secret@replica-a.internal:5432/shop, "
    "postgres://shop:secret@replica-b.internal:6432/shop"
)


def test_two_replica_urls_become_two_aliases_like_the_primary():
    found = databases_for(DATABASE_URL=PRIMARY, DATABASE_REPLICA_URLS=TWO_REPLICAS)
    databases = found["databases"]
    assert list(databases) == ["default", "replica1", "replica2"]
    pool = {"min_size": 1, "max_size": 8, "timeout": 10.0, "max_idle": 300}
    assert databases["default"]["pool"] == pool
    assert databases["replica1"] == {
        "HOST": "replica-a.internal",
        "NAME": "shop",
        "CONN_MAX_AGE": 0,
        "CONN_HEALTH_CHECKS": True,
        "MIRROR": "default",
        "pool": pool,
    }
    assert databases["replica2"]["HOST"] == "replica-b.internal"
    assert databases["replica2"]["MIRROR"] == "default"
    # A dict of pool options per alias: no alias changes another's.
    assert found["separate_pools"] == 3
    assert found["routers"] == [ROUTER]
    assert found["replica_middleware"] is True


def test_replicas_follow_the_primary_without_a_pool():
    found = databases_for(
        DATABASE_URL=PRIMARY,
        DATABASE_REPLICA_URLS=TWO_REPLICAS,
        DB_POOL_MAX_SIZE="0",
        DB_CONN_MAX_AGE="120",
    )
    for alias in ("default", "replica1", "replica2"):
        assert found["databases"][alias]["pool"] is None
        assert found["databases"][alias]["CONN_MAX_AGE"] == 120


def test_without_replicas_there_is_no_router_and_no_middleware():
    found = databases_for(DATABASE_URL=PRIMARY)
    assert list(found["databases"]) == ["default"]
    assert found["routers"] == []
    assert found["replica_middleware"] is False


def test_the_embedded_mode_ignores_replicas(tmp_path):
    found = databases_for(
        SQLITE_PATH=str(tmp_path / "db.sqlite3"), DATABASE_REPLICA_URLS=TWO_REPLICAS
    )
    assert list(found["databases"]) == ["default"]
    assert found["routers"] == []
    assert found["replica_middleware"] is False


# ---------------------------------------------------------------- the router

REPLICA_MODELS = [Category, Product, ProductVariant, StockAdjustment, Review]
PRIMARY_MODELS = [
    User,
    Order,
    OrderLine,
    Payment,
    StripeEvent,
    Session,
    ContentType,
    Permission,
    RefreshToken,
]


@pytest.fixture
def router() -> ReplicaRouter:
    return ReplicaRouter(replicas=REPLICAS)


def test_catalog_and_review_reads_in_a_window_go_to_one_replica(router):
    with replica_reads():
        chosen = {router.db_for_read(model) for model in REPLICA_MODELS * 3}
    assert len(chosen) == 1
    assert chosen <= set(REPLICAS)


def test_each_window_picks_a_replica_and_all_get_used(router):
    chosen = set()
    for _ in range(200):
        with replica_reads():
            chosen.add(router.db_for_read(Product))
    assert chosen == set(REPLICAS)


def test_other_apps_always_read_the_primary(router):
    with replica_reads():
        assert {router.db_for_read(model) for model in PRIMARY_MODELS} == {"default"}
        # Even when the instance they hang off was read from a replica.
        review_from_replica = Review()
        review_from_replica._state.db = "replica1"
        assert router.db_for_read(User, instance=review_from_replica) == "default"


def test_outside_a_window_everything_reads_the_primary(router):
    """Celery tasks, management commands, the shell, WebSocket subscriptions."""
    assert {router.db_for_read(model) for model in REPLICA_MODELS} == {"default"}


def test_a_write_pins_the_rest_of_the_window_to_the_primary(router):
    with replica_reads():
        assert router.db_for_read(Product) in REPLICAS
        assert router.db_for_write(Review) == "default"
        assert {router.db_for_read(model) for model in REPLICA_MODELS} == {"default"}
    with replica_reads():
        assert router.db_for_read(Product) in REPLICAS


def test_a_write_in_a_thread_or_task_of_the_request_pins_the_request(router):
    """asyncio tasks and sync_to_async threads run in copies of the request's
    context: they share its window."""
    with replica_reads():
        asyncio.run(sync_to_async(router.db_for_write)(Order))
        assert router.db_for_read(Product) == "default"
    with replica_reads():
        thread = threading.Thread(
            target=contextvars.copy_context().run, args=(router.db_for_write, Order)
        )
        thread.start()
        thread.join()
        assert router.db_for_read(Product) == "default"


def test_writes_and_migrations_go_to_the_primary_only(router):
    for model in REPLICA_MODELS + PRIMARY_MODELS:
        assert router.db_for_write(model) == "default"
    assert router.allow_migrate("default", "catalog") is True
    for alias in REPLICAS:
        assert router.allow_migrate(alias, "catalog") is False
        assert router.allow_migrate(alias, "orders", model_name="order") is False


def test_relations_between_the_primary_and_replicas_are_allowed(router):
    product, variant, other = Product(), ProductVariant(), Product()
    product._state.db, variant._state.db = "replica2", "default"
    assert router.allow_relation(product, variant) is True
    other._state.db = "elsewhere"
    assert router.allow_relation(product, other) is None


def test_reads_in_an_atomic_block_go_to_the_primary(router, transactional_db):
    """Checkout, payments and stock lock rows in atomic blocks."""
    with replica_reads():
        assert router.db_for_read(ProductVariant) in REPLICAS
        with transaction.atomic():
            assert router.db_for_read(ProductVariant) == "default"
            assert router.db_for_read(Review) == "default"
        assert router.db_for_read(ProductVariant) in REPLICAS


# ---------------------------------------------------------------- real queries


# Tests that read through the replica list it: Django refuses other aliases.
replica_db = pytest.mark.django_db(transaction=True, databases=["default", "replica1"])


@pytest.fixture(scope="module")
def _replica_alias(django_db_setup, django_db_blocker):
    """``replica1``: a second connection to the test database, as settings.py
    makes one from DATABASE_REPLICA_URLS (TEST MIRROR). Module-scoped, so it
    exists before pytest-django checks the test's ``databases``."""
    primary = connections["default"].settings_dict
    connections.settings["replica1"] = {
        **copy.deepcopy(primary),
        "TEST": {**primary["TEST"], "MIRROR": "default"},
    }
    yield
    with django_db_blocker.unblock():
        replica_connection = connections["replica1"]
        replica_connection.close()
        replica_connection.close_pool()
    del connections["replica1"]
    del connections.settings["replica1"]


@pytest.fixture
def replica(_replica_alias, settings):
    """The replica's connection, with the router and the middleware installed.
    Transactional tests: a replica sees committed rows only."""
    settings.DATABASE_ROUTERS = [ROUTER]
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, MIDDLEWARE]
    return connections["replica1"]


class Reads:
    """The SQL sent meanwhile to the primary and to the replica, from any thread
    (Django's ASGI handler serves each request in a thread of its own)."""

    def __init__(self) -> None:
        self.sql: dict[str, list[str]] = {"default": [], "replica1": []}
        self._wrapped = []

    def _record(self, execute, sql, params, many, context):
        self.sql.setdefault(context["connection"].alias, []).append(sql)
        return execute(sql, params, many, context)

    def _wrap(self, connection, **kwargs) -> None:
        if self._record in connection.execute_wrappers:
            return
        connection.execute_wrappers.append(self._record)
        self._wrapped.append(connection)

    def __enter__(self) -> "Reads":
        for alias in self.sql:
            self._wrap(connections[alias])
        connection_created.connect(self._wrap)
        return self

    def __exit__(self, *exc) -> None:
        connection_created.disconnect(self._wrap)
        for connection in self._wrapped:
            connection.execute_wrappers.remove(self._record)

    def on_primary(self, table_prefix: str) -> list[str]:
        return [sql for sql in self.sql["default"] if f'"{table_prefix}' in sql]

    def on_replica(self, table_prefix: str = "") -> list[str]:
        return [sql for sql in self.sql["replica1"] if f'"{table_prefix}' in sql]


PRODUCT_PAGE = """query($slug: String!) {
  product(slug: $slug) {
    name averageRating reviewCount variants { sku price { amount } }
    reviews(first: 5) { edges { node { rating comment author } } }
  }
}"""
PRODUCTS = """query {
  products(first: 5) { edges { node { name category { name } priceRange {
    min { amount } } } } } }"""
REVIEW_CREATE = """mutation($input: ReviewCreateInput!) {
  reviewCreate(input: $input) {
    review { rating product { averageRating reviewCount } }
    errors { code }
  }
}"""
CART_ADD = """mutation($lines: [CartLineInput!]!) {
  cartLinesAdd(lines: $lines) { cart { token totalQuantity } errors { code } } }"""
CHECKOUT = """mutation($input: CheckoutInput!) {
  checkout(input: $input) { order { status lines { sku quantity } } errors { code } }
}"""


@pytest.fixture
def kettle(transactional_db) -> Product:
    kettle = make_product(
        name="Kettle",
        slug="kettle",
        variants=[{"sku": "KETTLE", "price": "30", "quantity_available": 5}],
    )
    review(UserFactory(first_name="Ada", last_name="Lovelace"), kettle, rating=4)
    return kettle


@replica_db
def test_a_product_page_reads_the_catalog_and_reviews_from_the_replica(
    gql, replica, kettle
):
    with Reads() as reads:
        product = gql.ok(PRODUCT_PAGE, {"slug": "kettle"})["product"]
        gql.ok(PRODUCTS)
    assert product["reviewCount"] == 1
    assert product["variants"] == [{"sku": "KETTLE", "price": {"amount": "30.00"}}]
    assert product["reviews"]["edges"][0]["node"]["author"] == "Ada L."
    assert reads.on_replica("catalog_product")
    assert reads.on_replica("catalog_productvariant")
    assert reads.on_replica("reviews_review")
    assert reads.on_primary("catalog_") == []
    assert reads.on_primary("reviews_") == []


@replica_db
def test_under_asgi_a_query_reads_the_replica_and_a_mutation_does_not(replica, kettle):
    """Django's ASGI handler runs the middleware and the view in a thread of its
    own, with a copy of the context: the window still holds."""
    application = ASGIHandler()  # built now: it loads the MIDDLEWARE setting

    def post(document: str) -> dict:
        communicator = HttpCommunicator(
            application,
            "POST",
            "/graphql/",
            body=json.dumps({"query": document}).encode(),
            headers=[(b"host", b"localhost"), (b"content-type", b"application/json")],
        )
        response = async_to_sync(communicator.get_response)()
        assert response["status"] == 200
        return json.loads(response["body"])

    with Reads() as reads:
        answer = post('{ product(slug: "kettle") { name reviewCount } }')
    assert answer == {"data": {"product": {"name": "Kettle", "reviewCount": 1}}}
    assert reads.on_replica("catalog_product")
    assert reads.on_primary("catalog_") == []

    variant_id = to_base64("ProductVariant", kettle.variants.get().pk)
    with Reads() as reads:
        answer = post(
            f'mutation {{ cartLinesAdd(lines: [{{variantId: "{variant_id}", '
            "quantity: 1}]) { cart { totalQuantity } errors { code } } }"
        )
    assert answer == {
        "data": {"cartLinesAdd": {"cart": {"totalQuantity": 1}, "errors": []}}
    }
    assert reads.on_replica() == []
    assert reads.on_primary("catalog_productvariant")


@replica_db
def test_a_review_mutation_never_reads_the_replica(gql, replica, kettle):
    gql.login(UserFactory(first_name="Grace", last_name="Hopper"))
    with Reads() as reads:
        payload = gql.ok(
            REVIEW_CREATE,
            {
                "input": {
                    "productId": to_base64("Product", kettle.pk),
                    "rating": 2,
                    "comment": "Loud.",
                }
            },
        )["reviewCreate"]
    # The payload reads the product after the write's commit: the new average.
    assert payload == {
        "review": {"rating": 2, "product": {"averageRating": 3.0, "reviewCount": 2}},
        "errors": [],
    }
    assert reads.on_replica() == []
    assert reads.on_primary("catalog_product")


@replica_db
def test_cart_and_checkout_mutations_never_read_the_replica(gql, replica, kettle):
    variant = kettle.variants.get()
    with Reads() as reads:
        cart = gql.ok(
            CART_ADD,
            {
                "lines": [
                    {
                        "variantId": to_base64("ProductVariant", variant.pk),
                        "quantity": 1,
                    }
                ]
            },
        )["cartLinesAdd"]
        assert cart["errors"] == []
        order = gql.ok(
            CHECKOUT,
            {
                "input": {
                    "shippingAddress": ADDRESS_INPUT,
                    "cartToken": cart["cart"]["token"],
                    "email": "buyer@example.com",
                }
            },
        )["checkout"]
    assert order["errors"] == []
    assert order["order"]["lines"] == [{"sku": "KETTLE", "quantity": 1}]
    assert reads.on_replica() == []
    assert reads.on_primary("catalog_productvariant")


@replica_db
def test_a_guest_checkout_of_a_cart_made_outside_requests(gql, replica, kettle):
    token = guest_cart((kettle.variants.get(), 2))
    with Reads() as reads:
        order = gql.ok(
            CHECKOUT,
            {
                "input": {
                    "shippingAddress": ADDRESS_INPUT,
                    "cartToken": token,
                    "email": "guest@example.com",
                }
            },
        )["checkout"]
    assert order["order"]["status"] == "PENDING_PAYMENT"
    assert reads.on_replica() == []


@replica_db
def test_a_read_after_a_write_in_the_same_request_goes_to_the_primary(replica, kettle):
    def rename(request):
        allow_replica_reads()  # as the view does for a query
        before = Product.objects.get(pk=kettle.pk).name
        Product.objects.filter(pk=kettle.pk).update(name="Quiet kettle")
        after = Product.objects.get(pk=kettle.pk).name
        return HttpResponse(f"{before} -> {after}")

    request = RequestFactory().post(
        "/graphql/",
        json.dumps({"query": '{ product(slug: "kettle") { name } }'}),
        content_type="application/json",
    )
    with Reads() as reads:
        response = ReplicaReadsMiddleware(rename)(request)
    assert response.content == b"Kettle -> Quiet kettle"
    assert len(reads.on_replica("catalog_product")) == 1
    assert [q.split()[0] for q in reads.on_primary("catalog_product")] == [
        "UPDATE",
        "SELECT",
    ]


@replica_db
def test_graphql_requests_get_a_window_the_graphql_layer_opens(replica, kettle):
    """The middleware reads no body: it gives each GET or POST to /graphql/ a
    closed window, and only the GraphQL layer's word opens it. Other paths get no
    window, whatever they call."""

    def read(request):
        return HttpResponse(Product.objects.get(pk=kettle.pk).name)

    def open_then_read(request):
        allow_replica_reads()
        return read(request)

    factory = RequestFactory()
    graphql_requests = [
        factory.post("/graphql/", "{}", content_type="application/json"),
        factory.post("/graphql/", "{not json", content_type="application/json"),
        factory.get("/graphql/", {"query": "{ products { totalCount } }"}),
    ]
    other_requests = [
        factory.get(f"/admin/catalog/product/{kettle.pk}/change/"),
        factory.post("/webhooks/stripe/", "{}", content_type="application/json"),
        factory.options("/graphql/"),
    ]
    for request in graphql_requests:
        with Reads() as reads:
            ReplicaReadsMiddleware(read)(request)
        assert reads.on_replica() == [], request
        with Reads() as reads:
            ReplicaReadsMiddleware(open_then_read)(request)
        assert len(reads.on_replica("catalog_product")) == 1, request
    for request in other_requests:
        with Reads() as reads:
            ReplicaReadsMiddleware(open_then_read)(request)
        assert reads.on_replica() == [], request


def sha256(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


def persisted(document: str) -> dict:
    return {"persistedQuery": {"version": 1, "sha256Hash": sha256(document)}}


PAGE = '{ product(slug: "kettle") { name } }'
ADD = """mutation Add($lines: [CartLineInput!]!) {
  cartLinesAdd(lines: $lines) { cart { totalQuantity } errors { code } } }"""
QUERY_AND_MUTATION = 'query Page { product(slug: "kettle") { name } }\n' + ADD


@replica_db
def test_the_operation_that_runs_decides_not_the_words_in_the_document(replica, kettle):
    """A query reads the replica however it reaches the server: named by its
    persisted-query hash (no document in the request), selected by operationName
    among a query and a mutation, or with the word "mutation" in a comment. The
    old middleware searched the request's text for "mutation" and sent all of
    these to the primary."""
    persisted_queries.forget_all_in_process()
    persisted_queries.allow([PAGE, ADD, QUERY_AND_MUTATION])
    client = Client()
    lines = [
        {
            "variantId": to_base64("ProductVariant", kettle.variants.get().pk),
            "quantity": 1,
        }
    ]

    def post(**body):
        return client.post(
            "/graphql/", json.dumps(body), content_type="application/json"
        ).json()

    def get(**params):
        return client.get(
            "/graphql/", {key: json.dumps(value) for key, value in params.items()}
        ).json()

    queries = [
        lambda: post(extensions=persisted(PAGE)),
        lambda: get(extensions=persisted(PAGE)),
        lambda: post(query=QUERY_AND_MUTATION, operationName="Page"),
        lambda: post(extensions=persisted(QUERY_AND_MUTATION), operationName="Page"),
        lambda: post(query="# no mutation here\n" + PAGE),
    ]
    for ask in queries:
        with Reads() as reads:
            answer = ask()
        assert answer == {"data": {"product": {"name": "Kettle"}}}
        assert reads.on_replica("catalog_product"), answer
        assert reads.on_primary("catalog_") == []

    mutations = [
        lambda: post(extensions=persisted(ADD), variables={"lines": lines}),
        lambda: post(
            query=QUERY_AND_MUTATION, operationName="Add", variables={"lines": lines}
        ),
        lambda: post(
            extensions=persisted(QUERY_AND_MUTATION),
            operationName="Add",
            variables={"lines": lines},
        ),
    ]
    for ask in mutations:
        with Reads() as reads:
            answer = ask()
        assert answer["data"]["cartLinesAdd"]["errors"] == [], answer
        assert reads.on_replica() == []
        assert reads.on_primary("catalog_productvariant")

    # A document that does not parse, or names no operation it has: the primary.
    for body in (
        {"query": "{ product(slug: "},
        {"query": QUERY_AND_MUTATION, "operationName": "Other"},
        {"query": PAGE, "operationName": ["Page"]},
    ):
        with Reads() as reads:
            client.post("/graphql/", json.dumps(body), content_type="application/json")
        assert reads.on_replica() == [], body
    persisted_queries.forget_all_in_process()


@replica_db
def test_the_admin_reads_the_primary(admin_client, replica, kettle):
    with Reads() as reads:
        response = admin_client.get(f"/admin/catalog/product/{kettle.pk}/change/")
    assert response.status_code == 200
    assert reads.on_replica() == []
    assert reads.on_primary("catalog_product")
