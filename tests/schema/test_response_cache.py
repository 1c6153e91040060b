"""The response cache (schema/response_cache/) in front of Django, driven
through the whole ASGI application (shop.asgi.application) as a server drives it.

The application runs under ``async_to_sync``, so Django's synchronous view runs
in the test's own thread, on the test's database connection and transaction:
``CaptureQueriesContext`` sees every query of a miss, and none is run on a hit.
Catalog changes are made in ``committed()``, which runs their on-commit version
bump as a real commit would.
"""

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import time
from urllib.parse import urlencode

import fakeredis
import pytest
import redis
import redis.asyncio
from asgiref.sync import async_to_sync
from django.core.handlers.asgi import ASGIHandler
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django_redis import get_redis_connection
from graphql_jwt.shortcuts import get_token
from prometheus_client import REGISTRY

from schema import response_cache
from schema.response_cache import ResponseCache
from schema.response_cache import entries as cache_entries
from shop.asgi import application
from shop.catalog import cache_tags
from shop.catalog.models import AttributeValue, CacheInvalidation, Category, Product
from shop.catalog.services import product_denormalised_refresh
from shop.catalog.stock import stock_adjust
from shop.core import persisted_queries
from shop.reviews.services import review_create
from tests.asgi_helpers import Response, asgi_call
from tests.factories import UserFactory, make_product
from tests.orders_helpers import guest_cart, guest_checkout

LISTING = """query Listing($first: Int) {
  products(first: $first) {
    totalCount
    edges { node { name slug category { name } reviewCount averageRating
      priceRange { min { amount } }
      variants { sku price { amount } quantityAvailable
        attributes { attribute { slug } value { name } } }
      reviews(first: 5) { edges { node { rating author } } } } }
  }
}"""


def post(query: str, variables: dict | None = None, *, app=application, **options):
    payload = {"query": query, "variables": variables or {}}
    payload.update(options.pop("extra", {}))
    headers = {"content-type": "application/json", **options.pop("headers", {})}
    return asgi_call(
        app, "POST", body=json.dumps(payload).encode(), headers=headers, **options
    )


def get(params: dict, *, app=application, **options):
    encoded = {
        name: value if isinstance(value, str) else json.dumps(value)
        for name, value in params.items()
    }
    return asgi_call(app, "GET", query_string=urlencode(encoded).encode(), **options)


def cached_entries() -> list[bytes]:
    return list(get_redis_connection("default").scan_iter(match="*gql:response:*"))


def _is_flush(entry) -> bool:
    return getattr(entry[1], "_shop_flush", False)


def _forget_pending_bumps() -> None:
    """Drop the tags the test's setup left waiting for a commit that never comes
    (the test's transaction rolls back): in production those writes were
    committed and sent long ago, and a transaction flushes once, so they would
    hide the flush of the change under test."""
    connection.run_on_commit[:] = [
        entry for entry in connection.run_on_commit if not _is_flush(entry)
    ]
    CacheInvalidation.objects.all().delete()


@contextlib.contextmanager
def committed():
    """The block as a transaction of its own that commits: its on-commit callbacks
    (the catalog version bump among them) run at the end, and are then gone."""
    _forget_pending_bumps()
    start = len(connection.run_on_commit)
    yield
    while len(connection.run_on_commit) > start:
        pending = connection.run_on_commit[start:]
        del connection.run_on_commit[start:]
        for _, callback, _ in pending:
            callback()


@pytest.fixture(autouse=True)
def _redis_answering():
    """The application's cache starts each test taking Redis for up."""
    cache = application.application_mapping["http"]
    cache._skip_until = 0.0
    yield
    cache._skip_until = 0.0


@pytest.fixture
def catalog(db):
    phones = Category.objects.create(name="Phones", slug="phones")
    lamp = make_product(
        name="Lamp",
        category=phones,
        variants=[{"sku": "LAMP-1", "price": 30, "color": "Red"}],
    )
    mug = make_product(name="Mug", variants=[{"sku": "MUG-1", "price": 8}])
    return {"phones": phones, "lamp": lamp, "mug": mug}


def names(response: Response) -> list[str]:
    return [e["node"]["name"] for e in response.json["data"]["products"]["edges"]]


def filled(query=LISTING, variables=None) -> Response:
    """Ask twice: the first is answered by Django, the second from the cache."""
    first = post(query, variables)
    assert (first.status, first.x_cache) == (200, "MISS"), first
    second = post(query, variables)
    assert second.x_cache == "HIT"
    return second


# ---------------------------------------------------------------- hits


def test_a_repeated_anonymous_listing_runs_no_sql(catalog):
    with CaptureQueriesContext(connection) as queries:
        first = post(LISTING, {"first": 20})
    miss_sql = len(queries)
    with CaptureQueriesContext(connection) as queries:
        second = post(LISTING, {"first": 20})
    hit_sql = len(queries)

    assert first.x_cache == "MISS"
    assert miss_sql > 0
    assert second.status == 200
    assert second.x_cache == "HIT"
    assert hit_sql == 0
    assert second.body == first.body
    assert names(second) == ["Mug", "Lamp"]
    assert "errors" not in second.json


def test_a_hit_replays_django_s_headers_with_a_request_id_of_its_own(catalog):
    first = post(LISTING, headers={"x-request-id": "client-id-1"})
    second = post(LISTING, headers={"x-request-id": "client-id-2"})
    third = post(LISTING)

    assert first.headers["x-request-id"] == "client-id-1"
    assert second.headers["x-request-id"] == "client-id-2"
    assert len(third.headers["x-request-id"]) == 32  # a new one
    assert third.x_cache == "HIT"
    for name in (
        "content-type",
        "x-content-type-options",
        "x-frame-options",
        "referrer-policy",
        "cross-origin-opener-policy",
    ):
        assert second.headers[name] == first.headers[name], name
    assert second.headers["content-length"] == str(len(second.body))
    # POST answers are never kept by HTTP caches: no Cache-Control to send.
    assert "cache-control" not in second.headers


def test_hsts_and_cors_headers_are_those_of_the_same_kind_of_request(catalog, settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://shop.example"]
    origin = {"origin": "https://shop.example"}
    https = post(LISTING, headers=origin, scheme="https")
    https_hit = post(LISTING, headers=origin, scheme="https")
    plain = post(LISTING, headers=origin)
    other_origin = post(LISTING, headers={"origin": "https://evil.example"})

    assert https_hit.x_cache == "HIT"
    assert https_hit.headers["strict-transport-security"].startswith("max-age=")
    assert https_hit.headers["access-control-allow-origin"] == "https://shop.example"
    assert (
        https_hit.headers["strict-transport-security"]
        == (https.headers["strict-transport-security"])
    )
    # Another scheme and another origin are entries of their own.
    assert plain.x_cache == "MISS"
    assert "strict-transport-security" not in plain.headers
    assert other_origin.x_cache == "MISS"
    assert "access-control-allow-origin" not in other_origin.headers


def test_get_and_post_share_entries_and_anonymous_gets_may_be_cached_by_cdns(
    catalog, settings
):
    settings.GRAPHQL_CACHE_MAX_AGE = 45
    params = {"query": LISTING, "variables": {"first": 2}}
    first = get(params)
    second = get(params)
    by_post = post(LISTING, {"first": 2})

    assert (first.x_cache, second.x_cache, by_post.x_cache) == ("MISS", "HIT", "HIT")
    assert first.body == second.body == by_post.body
    for response in (first, second):
        assert response.headers["cache-control"] == "public, max-age=45"
        assert "Authorization" in response.headers["vary"]
    assert "cache-control" not in by_post.headers


def test_max_age_0_says_no_cache(catalog, settings):
    settings.GRAPHQL_CACHE_MAX_AGE = 0
    get({"query": LISTING})
    assert get({"query": LISTING}).headers["cache-control"] == "no-cache"


def test_variables_are_part_of_the_key_in_any_order(catalog):
    query = """query($first: Int, $after: String) {
      products(first: $first, after: $after) { edges { node { name } } } }"""
    filled(query, {"first": 1, "after": None})
    same = asgi_call(
        application,
        "POST",
        body=b'{"variables": {"after": null, "first": 1}, "query": '
        + json.dumps(query).encode()
        + b"}",
        headers={"content-type": "application/json"},
    )
    other = post(query, {"first": 2, "after": None})

    assert same.x_cache == "HIT"
    assert other.x_cache == "MISS"
    assert len(other.json["data"]["products"]["edges"]) == 2


def test_the_operation_name_is_part_of_the_key(catalog):
    document = """query A { products { totalCount } }
    query B { categories { name } }"""
    a = post(document, extra={"operationName": "A"})
    b = post(document, extra={"operationName": "B"})
    b_again = post(document, extra={"operationName": "B"})

    assert a.json == {"data": {"products": {"totalCount": 2}}}
    assert b.json == {"data": {"categories": [{"name": "Phones"}]}}
    assert (a.x_cache, b.x_cache, b_again.x_cache) == ("MISS", "MISS", "HIT")


def test_a_persisted_query_naming_the_hash_shares_the_full_text_s_entry(catalog):
    sha256 = hashlib.sha256(LISTING.encode()).hexdigest()
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": sha256}}
    full = post(LISTING)
    # Apollo's link sends the text with its hash after a PersistedQueryNotFound:
    # Django sees it (whatever the cache holds) and registers it.
    registering = post(LISTING, extra={"extensions": extensions})
    assert registering.x_cache == "MISS"
    by_hash = get({"extensions": extensions, "variables": {}})
    by_hash_post = asgi_call(
        application,
        "POST",
        body=json.dumps({"extensions": extensions, "variables": {}}).encode(),
        headers={"content-type": "application/json"},
    )

    upper = {"persistedQuery": {"version": 1, "sha256Hash": sha256.upper()}}
    by_upper_hash = get({"extensions": upper, "variables": {}})
    version_2 = {"persistedQuery": {"version": 2, "sha256Hash": sha256}}
    other_version = get({"extensions": version_2, "variables": {}})

    assert by_hash.x_cache == "HIT"
    assert by_hash_post.x_cache == "HIT"
    assert by_upper_hash.x_cache == "HIT"
    assert by_hash.body == by_hash_post.body == by_upper_hash.body == full.body
    assert other_version.x_cache is None  # Django's to refuse


def test_a_hash_nobody_registered_is_django_s_to_answer_even_if_its_text_is_cached(
    catalog,
):
    """Django answers PersistedQueryNotFound for it (the client then sends the
    text): the cache answers a hash only as Django would."""
    filled()
    by_hash = get({"extensions": _apq(LISTING), "variables": {}})
    assert by_hash.x_cache is None
    assert by_hash.json["errors"][0]["extensions"]["code"] == (
        "PERSISTED_QUERY_NOT_FOUND"
    )


def test_a_persisted_query_is_cached_by_its_hash_alone(catalog):
    sha256 = hashlib.sha256(LISTING.encode()).hexdigest()
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": sha256}}
    unknown = get({"extensions": extensions, "variables": {"first": 1}})
    registered = post(LISTING, {"first": 5}, extra={"extensions": extensions})
    first = get({"extensions": extensions, "variables": {"first": 1}})
    second = get({"extensions": extensions, "variables": {"first": 1}})

    assert unknown.json["errors"][0]["message"] == "PersistedQueryNotFound"
    assert "no-store" in unknown.headers["cache-control"]
    assert registered.x_cache == "MISS"
    assert (first.x_cache, second.x_cache) == ("MISS", "HIT")
    assert len(second.json["data"]["products"]["edges"]) == 1
    assert second.headers["cache-control"] == "public, max-age=30"


def test_a_wrong_hash_beside_the_text_is_never_answered_from_the_cache(catalog):
    post(LISTING)
    wrong = {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}
    response = post(LISTING, extra={"extensions": wrong})
    assert response.x_cache is None


def test_a_hit_is_counted_and_logged(catalog, settings, log_output):
    settings.METRICS_ENABLED = True
    counters = {
        "shop_graphql_response_cache_total": {"outcome": "hit"},
        "shop_http_requests_total": {
            "method": "POST",
            "route": "/graphql/",
            "status": "200",
        },
        "shop_graphql_operations_total": {
            "type": "query",
            "name": "Listing",
            "outcome": "ok",
        },
    }

    def samples() -> dict[str, float]:
        return {
            metric: REGISTRY.get_sample_value(metric, labels) or 0
            for metric, labels in counters.items()
        }

    before = samples()
    filled()
    after = samples()

    assert {metric: after[metric] - before[metric] for metric in counters} == {
        "shop_graphql_response_cache_total": 1,  # the hit
        "shop_http_requests_total": 2,  # the miss and the hit
        "shop_graphql_operations_total": 2,
    }
    miss_line, hit_line = log_output.lines("shop.request")
    assert hit_line["cache"] == "hit"
    assert hit_line["operation"] == "Listing"
    assert hit_line["status"] == 200
    assert hit_line["path"] == "/graphql/"
    assert hit_line["request_id"] != miss_line["request_id"]


# ---------------------------------------------------------------- never cached


def test_signed_in_requests_are_neither_served_from_nor_kept_in_the_cache(catalog):
    user = UserFactory()
    bearer = {"authorization": f"Bearer {get_token(user)}"}
    signed_in_first = post(LISTING, headers=bearer)
    assert cached_entries() == []
    anonymous = filled()

    with CaptureQueriesContext(connection) as queries:
        signed_in = post(LISTING, headers=bearer)
    ran_sql = len(queries)  # before the next request empties the log
    signed_in_get = get({"query": LISTING}, headers=bearer)
    bad_token = post(LISTING, headers={"authorization": "Bearer garbage"})

    assert signed_in_first.x_cache is None
    assert signed_in.x_cache is None
    assert ran_sql > 0
    assert signed_in.json == anonymous.json  # the same catalog, not from the cache
    assert signed_in_get.headers["cache-control"] == "private, no-store"
    assert "Authorization" in signed_in_get.headers["vary"]
    assert bad_token.x_cache is None


@pytest.mark.parametrize(
    "query",
    [
        '{ cart(token: "x") { totalQuantity } }',
        "{ me { email } }",
        '{ node(id: "UHJvZHVjdDox") { id } }',
        "{ products { totalCount } me { email } }",
        "{ ...Mine } fragment Mine on Query { products { totalCount } me { id } }",
        '{ order(token: "x") { number } }',
        "{ __schema { queryType { name } } }",
        '{ __type(name: "Product") { name } }',
    ],
)
def test_answers_that_can_depend_on_more_than_the_catalog_are_never_cached(
    catalog, query
):
    first = post(query)
    second = post(query)
    by_get = get({"query": query})

    assert first.status == 200
    assert first.x_cache is second.x_cache is None
    assert by_get.headers["cache-control"] == "private, no-store"
    assert cached_entries() == []


def test_fragments_and_typename_on_catalog_roots_are_cached(catalog):
    query = """query Q { __typename ...Shelf ... on Query { categories { slug } } }
      fragment Shelf on Query { products { totalCount } }"""
    assert filled(query).json["data"]["products"] == {"totalCount": 2}


def test_mutations_are_never_cached(catalog):
    variant = catalog["mug"].variants.get()
    mutation = """mutation($lines: [CartLineInput!]!) {
      cartLinesAdd(lines: $lines) { cart { totalQuantity } errors { code } } }"""
    variables = {
        "lines": [
            {
                "variantId": base64.b64encode(
                    f"ProductVariant:{variant.pk}".encode()
                ).decode(),
                "quantity": 1,
            }
        ]
    }
    first = post(mutation, variables)
    second = post(mutation, variables)

    assert first.json["data"]["cartLinesAdd"]["errors"] == []
    assert first.x_cache is second.x_cache is None
    assert cached_entries() == []


def test_answers_with_errors_are_never_cached(catalog):
    query = '{ product(slug: "lamp", id: "UHJvZHVjdDox") { name } }'
    first = post(query)
    second = post(query)
    by_get = get({"query": query})

    assert first.json["errors"][0]["extensions"]["code"] == "INVALID"
    assert (first.x_cache, second.x_cache) == ("MISS", "MISS")
    assert by_get.headers["cache-control"] == "private, no-store"
    assert cached_entries() == []


def test_an_answer_over_the_size_limit_is_not_kept(catalog, settings):
    settings.GRAPHQL_RESPONSE_CACHE_MAX_BYTES = 100
    assert post(LISTING).x_cache == "MISS"
    assert post(LISTING).x_cache == "MISS"
    assert cached_entries() == []


def test_switched_off_nothing_is_kept_but_gets_still_say_how_to_cache(
    catalog, settings
):
    settings.GRAPHQL_RESPONSE_CACHE = False
    first = get({"query": LISTING})
    second = get({"query": LISTING})
    assert (first.x_cache, second.x_cache) == ("MISS", "MISS")
    assert second.headers["cache-control"] == "public, max-age=30"
    assert cached_entries() == []


# ---------------------------------------------------------------- invalidation


def _edit_product(catalog):
    lamp = catalog["lamp"]
    lamp.name = "Desk lamp"
    lamp.save()


def _variant_price(catalog):
    variant = catalog["lamp"].variants.get()
    variant.price = "12.50"
    variant.save()
    product_denormalised_refresh(product_ids=[catalog["lamp"].pk])


def _stock_adjusted(catalog):
    variant = catalog["lamp"].variants.get()
    stock_adjust(variant_id=variant.pk, delta=3, reason="RECEIVED", staff=None)


def _checkout(catalog):
    guest_checkout(guest_cart((catalog["mug"].variants.get(), 2)))


def _category(catalog):
    phones = catalog["phones"]
    phones.name = "Telephones"
    phones.save()


def _attribute_value(catalog):
    AttributeValue.objects.filter(name="Red").update(name="Crimson")


def _review(catalog):
    review_create(
        user=UserFactory(first_name="Ada", last_name="Lovelace"),
        product_id=catalog["lamp"].pk,
        rating=5,
        comment="Bright.",
    )


def _unpublished_in_bulk(catalog):
    Product.objects.filter(pk=catalog["mug"].pk).update(is_published=False)


def _deleted(catalog):
    catalog["mug"].delete()


@pytest.mark.parametrize(
    "change",
    [
        _edit_product,
        _variant_price,
        _stock_adjusted,
        _checkout,
        _category,
        _attribute_value,
        _review,
        _unpublished_in_bulk,
        _deleted,
    ],
)
def test_every_kind_of_catalog_change_makes_the_next_answer_fresh(catalog, change):
    before = filled()
    with committed():
        change(catalog)
    with CaptureQueriesContext(connection) as queries:
        after = post(LISTING)
    ran_sql = len(queries)

    assert after.x_cache == "MISS"
    assert ran_sql > 0
    assert after.json != before.json
    assert after.json == post(LISTING).json  # and cached again
    assert post(LISTING).x_cache == "HIT"


def test_a_reviewer_s_new_name_makes_the_next_answer_fresh(catalog):
    from shop.accounts.services import user_name_change

    author = UserFactory(first_name="Ada", last_name="Lovelace")
    with committed():
        review_create(
            user=author, product_id=catalog["lamp"].pk, rating=4, comment="Fine."
        )
    before = filled()
    with committed():
        user_name_change(user=author, first_name="Grace", last_name="Hopper")
    after = post(LISTING)

    def authors(response):
        return [
            review["node"]["author"]
            for edge in response.json["data"]["products"]["edges"]
            for review in edge["node"]["reviews"]["edges"]
        ]

    assert authors(before) == ["Ada L."]
    assert after.x_cache == "MISS"
    assert authors(after) == ["Grace H."]


def test_signing_in_leaves_the_cache_alone(catalog):
    from django.contrib.auth.models import update_last_login

    user = UserFactory()
    filled()
    with committed():
        update_last_login(None, user)
    assert post(LISTING).x_cache == "HIT"


def test_an_admin_edit_makes_the_next_answer_fresh(catalog, admin_client):
    filled()
    with committed():
        response = admin_client.post(
            "/admin/catalog/product/",
            {
                "action": "unpublish",
                "_selected_action": [catalog["lamp"].pk],
            },
        )
    assert response.status_code == 302
    after = post(LISTING)
    assert after.x_cache == "MISS"
    assert names(after) == ["Mug"]


def test_a_rolled_back_change_keeps_the_cache(catalog):
    filled()
    with committed():
        try:
            with transaction.atomic():
                Product.objects.filter(pk=catalog["lamp"].pk).update(name="Oops")
                raise RuntimeError("changed my mind")
        except RuntimeError:
            pass
    assert post(LISTING).x_cache == "HIT"


def test_a_transaction_changes_the_version_once(catalog):
    _forget_pending_bumps()
    with transaction.atomic():
        _edit_product(catalog)
        _variant_price(catalog)
        _stock_adjusted(catalog)
        with transaction.atomic():
            _category(catalog)
    flushes = [entry for entry in connection.run_on_commit if _is_flush(entry)]
    assert len(flushes) == 1


@pytest.mark.parametrize(
    "sql",
    [
        'INSERT INTO "catalog_product" ("name") VALUES (%s)',
        'UPDATE "catalog_productvariant" SET "quantity_available" = 1',
        "delete from catalog_category where id = 1",
        '  UPDATE "accounts_user" SET "first_name" = %s WHERE "id" = 1',
        'TRUNCATE "reviews_review", "orders_order"',
    ],
)
def test_writes_to_the_catalog_are_recognised(sql):
    assert cache_tags.writes_catalog(sql)


@pytest.mark.parametrize(
    "sql",
    [
        'SELECT * FROM "catalog_product" FOR UPDATE',
        'INSERT INTO "orders_order" ("email") VALUES (%s)',
        'UPDATE "accounts_user" SET "last_login" = %s WHERE "id" = 1',
        'INSERT INTO "accounts_user" ("email", "first_name") VALUES (%s, %s)',
        'INSERT INTO "catalog_stockadjustment" ("sku") VALUES (%s)',
    ],
)
def test_other_statements_leave_the_version_alone(sql):
    assert not cache_tags.writes_catalog(sql)


def test_a_change_committed_while_a_miss_runs_is_never_served_later(
    catalog, monkeypatch
):
    from shop.catalog import selectors

    product_list = selectors.product_list
    during = []

    def changing_meanwhile(**kwargs):
        if not during:
            # Another process commits a change (and sends its tags) after this
            # request read Redis's clock and before its answer is kept.
            during.append(
                Product.objects.filter(pk=catalog["lamp"].pk).update(name="New")
            )
            cache_tags.flush()
        return product_list(**kwargs)

    monkeypatch.setattr(selectors, "product_list", changing_meanwhile)
    first = post(LISTING)
    second = post(LISTING)
    third = post(LISTING)

    assert during == [1]
    assert first.x_cache == "MISS"
    assert second.x_cache == "MISS"  # the first answer was not kept
    assert third.x_cache == "HIT"
    assert sorted(names(third)) == ["Mug", "New"]


@pytest.mark.parametrize("lost", ["product-{lamp}", "products", "*"])
def test_an_answer_whose_tag_redis_lost_misses_and_is_kept_again(catalog, lost):
    filled()
    tag = lost.format(lamp=catalog["lamp"].pk)
    assert get_redis_connection("default").delete(cache_tags.tag_key_prefix() + tag)
    assert post(LISTING).x_cache == "MISS"
    assert post(LISTING).x_cache == "HIT"


# ---------------------------------------------------------------- Redis down


@pytest.fixture
def redis_down(settings):
    """Redis refuses connections (the response cache and django-redis alike)."""
    location = settings.CACHES["default"]["LOCATION"]
    caches = {**settings.CACHES}
    caches["default"] = {**caches["default"], "LOCATION": "redis://127.0.0.1:1/0"}
    settings.CACHES = caches
    yield
    caches["default"] = {**caches["default"], "LOCATION": location}
    settings.CACHES = caches


def test_redis_down_every_request_is_answered_by_django(catalog, redis_down, caplog):
    caplog.set_level(logging.WARNING, logger="schema.response_cache")
    first = post(LISTING)
    second = get({"query": LISTING})

    assert first.status == second.status == 200
    assert names(first) == names(second) == ["Mug", "Lamp"]
    assert first.x_cache == second.x_cache == "MISS"
    warnings = [r for r in caplog.records if r.name == "schema.response_cache"]
    assert len(warnings) == 1  # once per outage, not per request


def test_a_failed_flush_does_not_fail_the_commit_and_its_tags_stay_pending(
    catalog, redis_down, caplog
):
    with committed():
        _edit_product(catalog)
    assert Product.objects.get(pk=catalog["lamp"].pk).name == "Desk lamp"
    assert "were not sent to the response cache yet" in caplog.text
    pending = set(CacheInvalidation.objects.values_list("tag", flat=True))
    assert f"product-{catalog['lamp'].pk}" in pending


# ---------------------------------------------------------------- what Django guards


def test_an_unknown_host_is_refused_even_for_a_cached_answer(catalog):
    filled()
    response = post(LISTING, headers={"host": "evil.example"})
    assert response.status == 400
    assert response.x_cache is None


@pytest.fixture
def https_only(settings):
    """Production's HTTPS settings behind a proxy, in a Django application built
    with them (its SecurityMiddleware reads them once)."""
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    return ResponseCache(ASGIHandler())


def test_plain_http_is_redirected_even_for_a_cached_answer(catalog, https_only):
    proxied = {"x-forwarded-proto": "https"}
    first = post(LISTING, app=https_only, headers=proxied)
    second = post(LISTING, app=https_only, headers=proxied)
    plain = get({"query": LISTING}, app=https_only)
    plain_post = post(LISTING, app=https_only)

    assert (first.x_cache, second.x_cache) == ("MISS", "HIT")
    assert second.headers["strict-transport-security"].startswith("max-age=")
    assert plain.status == plain_post.status == 301
    assert plain.headers["location"].startswith("https://localhost/graphql/")


# ---------------------------------------------------------------- embedded mode


def test_fakeredis_sync_and_async_clients_share_one_server():
    url = "redis://embedded-shared-check:6379/0"
    sync_client = redis.Redis.from_url(
        url, connection_class=fakeredis.FakeRedisConnection
    )
    sync_client.set("written-by", "django-redis")

    async def read():
        client = redis.asyncio.Redis.from_url(
            url, connection_class=fakeredis.FakeAsyncRedisConnection
        )
        value = await client.get("written-by")
        await client.set("answered-by", "the response cache")
        await client.aclose()
        return value

    assert async_to_sync(read)() == b"django-redis"
    assert sync_client.get("answered-by") == b"the response cache"


def test_embedded_mode_caches_in_the_in_process_redis(catalog, settings):
    caches = {**settings.CACHES}
    caches["default"] = {
        **caches["default"],
        "LOCATION": "redis://embedded-test:6379/0",
        "OPTIONS": {
            **caches["default"]["OPTIONS"],
            "CONNECTION_POOL_KWARGS": {
                "connection_class": fakeredis.FakeRedisConnection
            },
        },
    }
    settings.CACHES = caches
    settings.EMBEDDED_REDIS = True
    fake = get_redis_connection("default")
    fake.flushdb()

    filled()
    assert list(fake.scan_iter(match="*gql:response:*"))
    with committed():
        _edit_product(catalog)
    after = post(LISTING)
    assert after.x_cache == "MISS"
    assert "Desk lamp" in names(after)
    fake.flushdb()


# ---------------------------------------------------------------- the shared connection


def _location() -> str:
    from django.conf import settings

    return settings.CACHES["default"]["LOCATION"]


def test_concurrent_requests_get_their_own_replies_over_a_bounded_pool():
    from schema.response_cache.redis import MAX_CONNECTIONS

    get_redis_connection("default").set("rc:test:a", "1")
    name = f"rc-test-{time.monotonic_ns()}"

    async def run():
        shared = response_cache.RedisConnection(_location(), client_name=name)
        replies = await asyncio.gather(
            *(
                shared.execute(("INCR", "rc:test:n"), ("GET", "rc:test:a"))
                for _ in range(3 * MAX_CONNECTIONS)
            )
        )
        opened = [
            client
            for client in get_redis_connection("default").client_list()
            if client["name"] == name
        ]
        await shared.execute(("SET", "rc:test:big", b"x" * 300_000, "EX", "60"))
        [big] = await shared.execute(("GET", "rc:test:big"))
        await shared.pool.disconnect()
        return replies, big, len(opened)

    replies, big, opened = async_to_sync(run)()
    assert sorted(counter for counter, _ in replies) == list(
        range(1, 3 * MAX_CONNECTIONS + 1)
    )
    assert {value for _, value in replies} == {b"1"}
    assert big == b"x" * 300_000
    assert 1 <= opened <= MAX_CONNECTIONS  # the others waited for one


def test_a_request_that_stops_waiting_does_not_shift_the_replies_of_others():
    async def run():
        shared = response_cache.RedisConnection(_location())
        await shared.execute(("SET", "rc:test:slow", "late"))
        # BLPOP holds its reply for 0.3 s; the first request gives up after 0.05 s.
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):
                await shared.execute(("BLPOP", "rc:test:empty", "0.3"))
        after = await shared.execute(("GET", "rc:test:slow"))
        await shared.pool.disconnect()
        return after

    assert async_to_sync(run)() == [b"late"]


def test_a_dropped_connection_is_opened_again():
    async def run():
        shared = response_cache.RedisConnection(_location())
        [client_id] = await shared.execute(("CLIENT", "ID"))
        # Only this connection: the Redis server is shared with other clients.
        get_redis_connection("default").client_kill_filter(_id=client_id)
        await asyncio.sleep(0.05)
        again = await shared.execute(("PING",))
        await shared.pool.disconnect()
        return again

    assert async_to_sync(run)() == [True]


def test_redis_errors_are_raised():
    async def run():
        shared = response_cache.RedisConnection(_location())
        try:
            await shared.execute(("NOSUCHCOMMAND",))
        finally:
            await shared.pool.disconnect()

    with pytest.raises(response_cache.RedisReplyError, match="unknown command"):
        async_to_sync(run)()


@pytest.mark.parametrize(
    "body",
    [
        b'{"query": "{ products { totalCount } }", "extensions": [[1]]}',
        b'{"query": "{ products { totalCount } }", "variables": [1]}',
        b'{"query": 7}',
        b"[1, 2]",
        b'{"query": "{ products { totalCount } }", "operationName": ["x"]}',
        b"not json",
        b'{"query": "{ products { totalCount } }", "extensions": {"other": 1}}',
    ],
)
def test_requests_the_cache_cannot_read_are_left_to_django(db, body):
    response = asgi_call(
        application, "POST", body=body, headers={"content-type": "application/json"}
    )
    assert response.status in (200, 400)
    assert response.x_cache is None


# ------------------------------------------------------- what the cache cannot key

SLUG = "query Slug($slug: String) { product(slug: $slug) { name } }"


def _query_string(payload: dict) -> bytes:
    """A GET's query string as a client writes it (text as UTF-8, a lone
    surrogate as the bytes it would have)."""
    encoded = {
        name: value if isinstance(value, str) else json.dumps(value)
        for name, value in payload.items()
    }
    return urlencode(encoded, errors="surrogatepass").encode()


@pytest.mark.parametrize(
    "payload",
    [
        {"query": '{ product(slug: "\ud800") { name } }'},
        {"query": SLUG, "variables": {"slug": "\ud800"}},
        {"query": SLUG, "variables": {"slug": "lamp", "\udfff": 1}},
        {"query": SLUG, "variables": {"slug": "lamp"}, "operationName": "\ud800"},
    ],
    ids=["document", "variable", "variable-name", "operation-name"],
)
@pytest.mark.parametrize("method", ["POST", "GET"])
def test_a_lone_surrogate_is_answered_by_django_as_django_answers_it(
    catalog, payload, method
):
    """Valid JSON ("\\ud800"), not UTF-8: whatever the cache cannot key goes to
    Django, which answers it as it would without the cache."""
    if method == "POST":
        options = {
            "body": json.dumps(payload).encode(),
            "headers": {"content-type": "application/json"},
        }
    else:
        options = {"query_string": _query_string(payload)}
    through_cache = [asgi_call(application, method, **options) for _ in range(2)]
    django_alone = asgi_call(
        application.application_mapping["http"].app, method, **options
    )

    for response in through_cache:
        assert response.status == django_alone.status < 500
        assert response.body == django_alone.body


# ------------------------------------------------------- the key: declared variables


def test_variables_the_operation_does_not_declare_are_not_part_of_the_key(catalog):
    filled(LISTING, {"first": 1})
    for variables in (
        {"first": 1, "junk": "x" * 10_000},
        {"first": 1, "other": [1, 2, 3]},
        {"junk": None, "first": 1},
        {"first": 1.0},  # coerced to the same Int
    ):
        response = post(LISTING, variables)
        assert response.x_cache == "HIT", variables
        assert names(response) == ["Mug"]
    by_get = get({"query": LISTING, "variables": {"first": 1, "junk": "y"}})
    assert by_get.x_cache == "HIT"
    assert len(cached_entries()) == 1


def test_variables_are_keyed_as_the_operation_receives_them(catalog):
    defaulted = """query Defaulted($first: Int = 1) {
      products(first: $first) { edges { node { name } } } }"""
    filled(defaulted, {})
    same_as_default = post(defaulted, {"first": 1})
    explicit_null = post(defaulted, {"first": None})
    other = post(defaulted, {"first": 2})

    assert same_as_default.x_cache == "HIT"
    # null is not "not given": it replaces the default, and all products come.
    assert explicit_null.x_cache == "MISS"
    assert names(explicit_null) == ["Mug", "Lamp"]
    assert other.x_cache == "MISS"
    assert post(defaulted, {"first": None}).x_cache == "HIT"


def test_variables_the_operation_refuses_are_left_to_django(catalog):
    response = post(LISTING, {"first": "many"})
    again = post(LISTING, {"first": "many"})
    assert response.status == 200
    assert (
        response.json["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    )
    assert response.x_cache is again.x_cache is None
    assert cached_entries() == []


# ------------------------------------------------------- what one client can store


def _entry_bytes() -> int:
    """The bytes a kept entry counts: its key and its value."""
    store = get_redis_connection("default")
    [key] = cached_entries()
    return len(key) + store.strlen(key)


def _slugs(count: int, *, client: str, start: int = 0) -> list[Response]:
    return [
        post(SLUG, {"slug": f"missing-{number:04}"}, client=client)
        for number in range(start, start + count)
    ]


def test_one_client_makes_the_cache_keep_at_most_its_budget(catalog, settings):
    post(SLUG, {"slug": "missing-probe"}, client="203.0.113.9")
    size = _entry_bytes()
    get_redis_connection("default").flushdb()
    settings.GRAPHQL_RESPONSE_CACHE_CLIENT_BYTES = 3 * size

    first = _slugs(4, client="203.0.113.1")
    again = _slugs(4, client="203.0.113.1")
    neighbour = _slugs(1, client="203.0.113.2", start=10)

    # Three entries fit in its budget; the fourth answer is not kept.
    assert [r.x_cache for r in first] == ["MISS"] * 4
    assert [r.x_cache for r in again] == ["HIT", "HIT", "HIT", "MISS"]
    assert all(r.json == {"data": {"product": None}} for r in first + again)
    # Another client has a budget of its own, and hits are free for everyone.
    assert neighbour[0].x_cache == "MISS"
    assert post(SLUG, {"slug": "missing-0010"}).x_cache == "HIT"
    assert post(SLUG, {"slug": "missing-0000"}, client="203.0.113.2").x_cache == "HIT"
    assert len(cached_entries()) == 4


def test_a_client_s_ipv6_network_shares_one_budget(catalog, settings):
    post(SLUG, {"slug": "missing-probe"}, client="203.0.113.9")
    size = _entry_bytes()
    get_redis_connection("default").flushdb()
    settings.GRAPHQL_RESPONSE_CACHE_CLIENT_BYTES = 2 * size

    _slugs(1, client="2001:db8:1:2::1")
    _slugs(1, client="2001:db8:1:2:ffff::9", start=1)
    _slugs(1, client="2001:db8:1:2:aaaa::3", start=2)  # same /64: over budget
    _slugs(1, client="2001:db8:1:3::1", start=3)  # another /64

    assert len(cached_entries()) == 3


def test_the_budget_follows_the_client_behind_trusted_proxies(catalog, settings):
    post(SLUG, {"slug": "missing-probe"})
    size = _entry_bytes()
    get_redis_connection("default").flushdb()
    settings.GRAPHQL_RESPONSE_CACHE_CLIENT_BYTES = size
    settings.TRUSTED_PROXY_COUNT = 1

    for number, forwarded in enumerate(
        ["198.51.100.1", "198.51.100.2", "9.9.9.9, 198.51.100.1"]
    ):
        post(
            SLUG, {"slug": f"missing-{number}"}, headers={"x-forwarded-for": forwarded}
        )

    # The proxy's own address is every request's: the clients are told apart.
    assert len(cached_entries()) == 2


def test_allow_listed_documents_are_kept_whatever_the_client_s_budget(
    catalog, settings
):
    settings.GRAPHQL_RESPONSE_CACHE_CLIENT_BYTES = 0
    assert post(LISTING).x_cache == "MISS"
    assert post(LISTING).x_cache == "MISS"  # a client's own document: not kept
    assert cached_entries() == []

    persisted_queries.allow([LISTING])
    assert post(LISTING).x_cache == "MISS"
    assert post(LISTING).x_cache == "HIT"


def test_all_clients_together_make_the_cache_keep_at_most_the_total_budget(
    catalog, settings
):
    post(SLUG, {"slug": "missing-probe"})
    size = _entry_bytes()
    get_redis_connection("default").flushdb()
    settings.GRAPHQL_RESPONSE_CACHE_TOTAL_BYTES = 3 * size
    persisted_queries.allow([SLUG])  # not even the shop's own documents go over

    for number in range(5):
        post(SLUG, {"slug": f"missing-{number}"}, client=f"192.0.2.{number}")

    assert len(cached_entries()) == 3
    window = get_redis_connection("default").ttl(
        next(iter(get_redis_connection("default").scan_iter(match="*gql:budget:*")))
    )
    assert 0 < window <= 300


# ---------------------------------------------------------------- the allow-list


def _apq(document: str) -> dict:
    sha256 = hashlib.sha256(document.encode()).hexdigest()
    return {"persistedQuery": {"version": 1, "sha256Hash": sha256}}


def _current_entries() -> int:
    """Entries whose tags all still have the versions they recorded (the ones a
    hit can use)."""
    store = get_redis_connection("default")
    prefix = cache_tags.tag_key_prefix()
    valid = 0
    for key in cached_entries():
        tags, versions, _ = (store.get(key) or b"\n\n").split(b"\n", 2)
        current = store.mget([prefix + tag.decode() for tag in tags.split()])
        valid += current == versions.split()
    return valid


@pytest.mark.parametrize("allow_list_only", [True, False])
def test_a_document_removed_from_the_allow_list_is_neither_served_nor_kept_again(
    catalog, settings, allow_list_only
):
    from django.core.management import call_command

    settings.GRAPHQL_PERSISTED_QUERIES_ONLY = allow_list_only
    persisted_queries.forget_all_in_process()
    persisted_queries.allow([LISTING])
    by_hash = {"extensions": _apq(LISTING), "variables": {"first": 1}}
    assert [get(by_hash).x_cache for _ in range(2)] == ["MISS", "HIT"]

    call_command(
        "persisted_queries", "remove", _apq(LISTING)["persistedQuery"]["sha256Hash"]
    )
    # This process found the document less than a minute ago, and remembers it.
    after = [get(by_hash) for _ in range(3)]

    for response in after:
        assert response.x_cache != "HIT"
        assert response.json["errors"][0]["extensions"]["code"] == (
            "PERSISTED_QUERY_NOT_FOUND"
        )
    assert _current_entries() == 0
    if allow_list_only:
        in_full = [post(LISTING, {"first": 1}) for _ in range(2)]
        assert [r.json["errors"][0]["extensions"]["code"] for r in in_full] == [
            "PERSISTED_QUERY_NOT_ALLOWED"
        ] * 2
        assert _current_entries() == 0


def test_in_allow_list_mode_an_answer_is_kept_only_while_its_document_is_listed(
    catalog, settings, monkeypatch
):
    """Removed while Django runs it: the answer is not kept."""
    settings.GRAPHQL_PERSISTED_QUERIES_ONLY = True
    persisted_queries.forget_all_in_process()
    persisted_queries.allow([LISTING])
    from shop.catalog import selectors

    product_list = selectors.product_list

    def removed_meanwhile(**kwargs):
        get_redis_connection("default").delete(
            persisted_queries.ALLOWED_PREFIX
            + _apq(LISTING)["persistedQuery"]["sha256Hash"]
        )
        return product_list(**kwargs)

    monkeypatch.setattr(selectors, "product_list", removed_meanwhile)
    assert "data" in post(LISTING).json
    assert cached_entries() == []


# ---------------------------------------------------------------- Content-Type


@pytest.mark.parametrize(
    "content_type",
    ["text/plain; x=application/json", "text/plain;charset=application/json"],
)
def test_a_content_type_that_merely_mentions_json_is_left_to_django(
    catalog, content_type
):
    filled()
    response = post(LISTING, headers={"content-type": content_type})
    assert response.status == 400
    assert response.x_cache is None


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", "Application/JSON"]
)
def test_json_with_parameters_or_in_capitals_is_json(catalog, content_type):
    filled()
    assert post(LISTING, headers={"content-type": content_type}).x_cache == "HIT"


# ---------------------------------------------------------------- rediss://


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory):
    """The test Redis behind TLS with a private CA's certificate."""
    from redis.connection import parse_url

    from tests.redis_tls import TlsFront, make_certificates

    plain = parse_url(_location())
    ca_file, cert_file, key_file = make_certificates(tmp_path_factory.mktemp("tls"))
    with TlsFront(
        (plain["host"], plain.get("port", 6379)), cert_file, key_file
    ) as front:
        yield {"port": front.port, "db": plain.get("db", 0), "ca": ca_file}


def _tls_location(settings, tls_redis, query: str) -> None:
    caches = {**settings.CACHES}
    location = f"rediss://127.0.0.1:{tls_redis['port']}/{tls_redis['db']}?{query}"
    caches["default"] = {**caches["default"], "LOCATION": location}
    settings.CACHES = caches


@pytest.mark.parametrize(
    "query",
    [
        "ssl_ca_certs={ca}",
        "ssl_cert_reqs=none",
        "ssl_cert_reqs=required&ssl_ca_certs={ca}",
    ],
)
def test_a_rediss_url_s_tls_options_are_honoured(catalog, settings, tls_redis, query):
    _tls_location(settings, tls_redis, query.format(ca=tls_redis["ca"]))
    assert post(LISTING).x_cache == "MISS"
    assert post(LISTING).x_cache == "HIT"


def test_a_rediss_url_verifies_the_certificate_by_default(
    catalog, settings, tls_redis, caplog
):
    caplog.set_level(logging.WARNING, logger="schema.response_cache")
    _tls_location(settings, tls_redis, "")
    assert [post(LISTING).x_cache for _ in range(2)] == ["MISS", "MISS"]
    assert "CERTIFICATE_VERIFY_FAILED" in caplog.text


# ---------------------------------------------------------------- read replicas


def test_with_replicas_a_change_made_by_a_process_that_has_ended_is_not_cached_stale(
    catalog, monkeypatch
):
    """The README's one-liner (a process that ends at once) empties the cache;
    an answer computed within REPLICA_LAG_SECONDS of that change may come from a
    replica that has not replayed it yet, so it is not kept, whatever became of
    the process that made the change."""
    import os
    import subprocess
    import sys

    from django.conf import settings

    filled()
    monkeypatch.setattr(cache_entries, "_replicas_configured", lambda: True)
    monkeypatch.setattr(cache_entries, "REPLICA_LAG_SECONDS", 30.0)
    environment = {
        **os.environ,
        "DATABASE_REPLICA_URLS": os.environ["DATABASE_URL"],
        "DJANGO_LOG_LEVEL": "ERROR",
    }
    subprocess.run(
        [sys.executable, "manage.py", "catalog_cache_clear"],
        cwd=settings.BASE_DIR,
        env=environment,
        check=True,
        timeout=120,
    )
    everything = cache_tags.tag_key_prefix() + cache_tags.ALL
    version = get_redis_connection("default").get(everything)

    within_lag = [post(LISTING) for _ in range(3)]
    assert [r.x_cache for r in within_lag] == ["MISS"] * 3
    assert cached_entries() == [] or _current_entries() == 0

    monkeypatch.setattr(cache_entries, "REPLICA_LAG_SECONDS", 0.3)
    time.sleep(0.35)
    assert [post(LISTING).x_cache for _ in range(2)] == ["MISS", "HIT"]
    # One change, one version: nothing is left to change it a second time.
    assert get_redis_connection("default").get(everything) == version


def test_without_replicas_an_answer_is_kept_right_after_a_change(catalog):
    with committed():
        _edit_product(catalog)
    assert [post(LISTING).x_cache for _ in range(2)] == ["MISS", "HIT"]


def test_a_hit_answers_in_the_media_type_the_client_asked_for(catalog):
    """Apollo Client 4 asks for application/graphql-response+json first: its
    answers are kept and served like any other, labelled as each client asks."""
    apollo = {"accept": "application/graphql-response+json, application/json;q=0.9"}
    first = post(LISTING, headers=apollo)
    assert first.x_cache == "MISS"
    assert first.headers["content-type"].startswith("application/graphql-response+json")
    hit = post(LISTING, headers=apollo)
    assert hit.x_cache == "HIT"
    assert hit.headers["content-type"].startswith("application/graphql-response+json")
    plain = post(LISTING)
    assert plain.x_cache == "HIT"
    assert plain.headers["content-type"] == "application/json"
    assert plain.json == hit.json == first.json
