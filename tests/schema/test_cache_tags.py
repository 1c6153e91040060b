"""The response cache invalidates by what changed (shop.catalog.cache_tags): a
write drops the answers that contain what it changed, and only those.

Two products in two categories; each test fills the cache with each product's
page and with each category's listing, makes one kind of write to the mug, and
checks that the mug's answers miss (and show the change) while the lamp's still
hit. Writes go through every path the shop has: checkout, cancel, expiry, the
admin, reviews, bulk and raw SQL; a write from another program (psql) and the
race between writes and reads are in the transactional tests at the end.
"""

import subprocess
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from django_redis import get_redis_connection

from shop.catalog import cache_tags
from shop.catalog.models import CacheInvalidation, Category, Product, ProductVariant
from shop.catalog.stock import stock_adjust
from shop.orders.models import Order
from shop.orders.services import order_cancel
from shop.payments.services import orders_expire
from shop.reviews.services import review_create
from tests.admin_helpers import form_data
from tests.factories import UserFactory, make_product
from tests.orders_helpers import guest_cart, guest_checkout
from tests.schema.test_response_cache import cached_entries, committed, post

PAGE = """query Page($slug: String!) {
  product(slug: $slug) {
    name averageRating reviewCount
    variants { sku quantityAvailable price { amount } }
  }
}"""

LISTING = """query Listing($category: String) {
  products(first: 10, filters: {category: $category}) {
    totalCount
    edges { node { name variants { sku quantityAvailable } } }
  }
}"""

IN_STOCK = """query InStock {
  products(first: 10, filters: {inStock: true, category: "lights"}) {
    edges { node { name } }
  }
}"""

BY_PRICE = """query ByPrice {
  products(first: 10, filters: {category: "lights"}, ordering: [{price: ASC}]) {
    edges { node { name } }
  }
}"""


@pytest.fixture
def shop(db):
    lights = Category.objects.create(name="Lights", slug="lights")
    kitchen = Category.objects.create(name="Kitchen", slug="kitchen")
    lamp = make_product(
        name="Lamp",
        slug="lamp",
        category=lights,
        variants=[{"sku": "LAMP-1", "price": 30, "quantity_available": 5}],
    )
    mug = make_product(
        name="Mug",
        slug="mug",
        category=kitchen,
        variants=[{"sku": "MUG-1", "price": 8, "quantity_available": 5}],
    )
    return {"lamp": lamp, "mug": mug, "mug_variant": mug.variants.get()}


def answers() -> dict[str, tuple]:
    return {
        "lamp page": (PAGE, {"slug": "lamp"}),
        "mug page": (PAGE, {"slug": "mug"}),
        "lights listing": (LISTING, {"category": "lights"}),
        "kitchen listing": (LISTING, {"category": "kitchen"}),
    }


def fill() -> dict[str, dict]:
    found = {}
    for name, (query, variables) in answers().items():
        first = post(query, variables)
        assert first.x_cache == "MISS", (name, first)
        found[name] = first.json
        assert post(query, variables).x_cache == "HIT", name
    return found


def after(before: dict[str, dict]) -> dict[str, tuple[str, bool]]:
    """Each answer's X-Cache now, and whether its content changed."""
    outcome = {}
    for name, (query, variables) in answers().items():
        response = post(query, variables)
        outcome[name] = (response.x_cache, response.json != before[name])
    return outcome


MUG_CHANGED = {
    "lamp page": ("HIT", False),
    "mug page": ("MISS", True),
    "lights listing": ("HIT", False),
    "kitchen listing": ("MISS", True),
}


def test_a_checkout_drops_the_answers_with_the_product_bought_and_no_other(shop):
    before = fill()
    with committed():
        guest_checkout(guest_cart((shop["mug_variant"], 2)))
    assert after(before) == MUG_CHANGED


def test_a_cancelled_order_s_stock_return_drops_its_product_s_answers(shop):
    user = UserFactory()
    with committed():
        from tests.orders_helpers import user_cart

        user_cart(user, (shop["mug_variant"], 2))
        from shop.orders.services import checkout_complete
        from tests.orders_helpers import ADDRESS

        order = checkout_complete(
            user=user, cart_token=None, email=user.email, address=ADDRESS
        )
    before = fill()
    with committed():
        order_cancel(user=user, order_id=order.pk)
    assert after(before) == MUG_CHANGED


def test_an_expired_order_s_stock_return_drops_its_product_s_answers(shop):
    with committed():
        order = guest_checkout(guest_cart((shop["mug_variant"], 2)))
    before = fill()
    with committed():
        Order.objects.filter(pk=order.pk).update(
            reserved_until=timezone.now() - timedelta(minutes=1)
        )
        assert orders_expire() == [order.pk]
    assert after(before) == MUG_CHANGED


def test_an_admin_stock_adjustment_drops_its_product_s_answers(shop, admin_client):
    url = reverse("admin:catalog_product_change", args=[shop["mug"].pk])
    data = form_data(admin_client, url)
    data["variants-0-stock_delta"] = "7"
    data["variants-0-stock_reason"] = "RECEIVED"
    before = fill()
    with committed():
        response = admin_client.post(url, data)
    assert response.status_code == 302
    assert ProductVariant.objects.get(sku="MUG-1").quantity_available == 12
    assert after(before) == MUG_CHANGED


def test_an_admin_product_edit_drops_its_product_s_answers(shop, admin_client):
    url = reverse("admin:catalog_product_change", args=[shop["mug"].pk])
    data = form_data(admin_client, url)
    data["name"] = "Big mug"
    before = fill()
    with committed():
        response = admin_client.post(url, data)
    assert response.status_code == 302
    assert after(before) == MUG_CHANGED


def test_a_review_drops_its_product_s_answers(shop):
    before = fill()
    with committed():
        review_create(
            user=UserFactory(),
            product_id=shop["mug"].pk,
            rating=4,
            comment="Holds tea.",
        )
    outcome = after(before)
    assert outcome["mug page"] == ("MISS", True)  # its rating
    assert outcome["lamp page"] == outcome["lights listing"] == ("HIT", False)


def test_a_bulk_update_drops_the_answers_of_the_rows_it_changed(shop):
    before = fill()
    with committed():
        ProductVariant.objects.filter(sku="MUG-1").update(quantity_available=9)
    assert after(before) == MUG_CHANGED


def test_raw_sql_drops_the_answers_of_the_rows_it_changed(shop):
    before = fill()
    with committed(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE catalog_productvariant SET quantity_available = 3 WHERE sku = %s",
            ["MUG-1"],
        )
    assert after(before) == MUG_CHANGED


def test_a_change_of_list_membership_drops_lists_but_not_other_products_pages(shop):
    before = fill()
    with committed():
        Product.objects.filter(pk=shop["mug"].pk).update(category=None)
    outcome = after(before)
    assert outcome["lights listing"][0] == "MISS"  # membership: any list may move
    assert outcome["kitchen listing"] == ("MISS", True)
    assert outcome["lamp page"] == ("HIT", False)


def _hits(query: str) -> bool:
    return post(query).x_cache == "HIT"


def test_lists_without_the_product_drop_only_for_what_can_move_them(shop):
    """Lists of the lights (the lamp alone): the mug's writes leave them cached,
    except a write that can change which products such a list holds or their
    order: stock crossing zero for an in-stock list, a price for a price list."""
    for query in (IN_STOCK, BY_PRICE):
        post(query)
        assert _hits(query)
    mug = shop["mug_variant"].pk

    with committed():
        stock_adjust(variant_id=mug, delta=-1, reason="DAMAGED", staff=None)
    assert _hits(IN_STOCK)  # 5 -> 4: nothing can move
    assert _hits(BY_PRICE)

    with committed():
        stock_adjust(variant_id=mug, delta=-4, reason="DAMAGED", staff=None)
    assert not _hits(IN_STOCK)  # 4 -> 0: in-stock lists may change
    assert _hits(BY_PRICE)
    assert _hits(IN_STOCK)

    with committed():
        Product.objects.filter(pk=shop["mug"].pk).update(name="Big mug")
    assert _hits(IN_STOCK)  # names sort neither
    assert _hits(BY_PRICE)

    with committed():
        ProductVariant.objects.filter(pk=mug).update(price="7.00")
    assert _hits(IN_STOCK)
    assert not _hits(BY_PRICE)


def test_a_lookup_that_found_nothing_is_dropped_when_the_product_appears(shop):
    missing = (PAGE, {"slug": "teapot"})
    assert post(*missing).json == {"data": {"product": None}}
    assert post(*missing).x_cache == "HIT"
    with committed():
        ProductVariant.objects.filter(sku="LAMP-1").update(quantity_available=4)
    assert post(*missing).x_cache == "HIT"  # a stock change makes nothing appear
    with committed():
        make_product(name="Teapot", slug="teapot", variants=[{"price": 20}])
    response = post(*missing)
    assert response.x_cache == "MISS"
    assert response.json["data"]["product"]["name"] == "Teapot"


def test_the_triggers_record_the_tags_the_python_side_reads(shop):
    """The tag names written by the triggers (migration catalog 0005) are those
    the rows record when read (cache_tags._ROW_TAGS)."""
    CacheInvalidation.objects.all().delete()
    variant = shop["mug_variant"]
    ProductVariant.objects.filter(pk=variant.pk).update(quantity_available=0)
    recorded = set(CacheInvalidation.objects.values_list("tag", flat=True))
    assert recorded == {
        f"product-{shop['mug'].pk}",
        f"variant-{variant.pk}",
        "products-stock",
    }
    with cache_tags.collecting() as tags:
        list(ProductVariant.objects.filter(pk=variant.pk))
        list(ProductVariant.objects.filter(pk=variant.pk).only("sku"))
    assert tags == {f"product-{shop['mug'].pk}", f"variant-{variant.pk}"}


def test_every_list_tag_the_schema_records_is_one_the_triggers_write():
    """A list tag the triggers never write would never drop its answers."""
    from importlib import import_module

    written = "".join(
        import_module(module).FORWARD
        for module in (
            "shop.catalog.migrations.0005_cache_invalidation",
            "shop.shipping.migrations.0002_cache_invalidation",
            "shop.discounts.migrations.0002_cache_invalidation",
        )
    )
    for tag in cache_tags.LIST_TAGS:
        assert f"'{tag}'" in written, tag


def test_a_rate_change_drops_the_cached_shipping_methods(shop):
    from shop.shipping.models import ShippingMethod, ShippingZone
    from shop.taxes.models import TaxRate, tax_class

    zone = ShippingZone.objects.create(name="UK", countries=["GB"])
    ShippingMethod.objects.create(zone=zone, name="Post", price="3.00")
    methods = """{ shippingMethods(country: "GB") { name } }"""
    assert [post(methods).x_cache for _ in range(2)] == ["MISS", "HIT"]
    with committed():
        TaxRate.objects.create(country="GB", tax_class=tax_class("standard"), rate=20)
    assert post(methods).x_cache == "MISS"


def test_a_bulk_statement_over_many_rows_empties_the_cache(shop):
    CacheInvalidation.objects.all().delete()
    Product.objects.bulk_create(
        Product(name=f"P{n}", slug=f"p-{n}") for n in range(1001)
    )
    assert set(CacheInvalidation.objects.values_list("tag", flat=True)) == {"*"}


def test_an_answer_with_too_many_tags_depends_on_any_catalog_change():
    many = {f"product-{n}" for n in range(cache_tags.MAX_TAGS + 1)}
    assert cache_tags.answer_tags(many) == ["*", "catalog"]
    assert cache_tags.answer_tags({"product-1"}) == ["*", "product-1"]


# ---------------------------------------------------------------- other processes


@pytest.fixture
def listening():
    stop = threading.Event()
    thread = threading.Thread(target=cache_tags.listen, kwargs={"stop": stop})
    thread.start()
    yield
    stop.set()
    thread.join(timeout=cache_tags.LISTEN_SECONDS + 5)
    assert not thread.is_alive()


def _wait_for_miss(query: str, variables: dict, seconds: float = 5.0):
    deadline = time.monotonic() + seconds
    while True:
        response = post(query, variables)
        if response.x_cache == "MISS" or time.monotonic() > deadline:
            return response
        time.sleep(0.02)


@pytest.mark.django_db(transaction=True)
def test_a_write_from_another_program_reaches_the_cache_through_the_listener(
    listening,
):
    from django.conf import settings

    make_product(name="Mug", slug="mug", variants=[{"sku": "MUG-1", "price": 8}])
    make_product(name="Lamp", slug="lamp", variants=[{"sku": "LAMP-1", "price": 9}])
    cache_tags.flush()
    for slug in ("mug", "lamp"):
        post(PAGE, {"slug": slug})
        assert post(PAGE, {"slug": slug}).x_cache == "HIT"

    database = settings.DATABASES["default"]
    subprocess.run(
        [
            "psql",
            "-h",
            database["HOST"] or "127.0.0.1",
            "-p",
            str(database["PORT"] or 5432),
            "-U",
            database["USER"],
            "-d",
            connection.settings_dict["NAME"],
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            "UPDATE catalog_product SET name = 'Tall mug' WHERE slug = 'mug'",
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    response = _wait_for_miss(PAGE, {"slug": "mug"})
    assert response.x_cache == "MISS"
    assert response.json["data"]["product"]["name"] == "Tall mug"
    assert post(PAGE, {"slug": "lamp"}).x_cache == "HIT"
    assert not CacheInvalidation.objects.exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("slugs", [("mug",), ("mug", "lamp")])
def test_no_read_starting_after_a_write_returned_sees_an_answer_from_before_it(
    slugs,
):
    """Writers and a reader on threads of their own (each its own database
    connection), many rounds: each writer raises its product's stock one unit at
    a time through the service (with two, their flushes race each other) and
    publishes each value once the call returned; every read must show at least
    the value published for its product before the read started."""
    variants = {
        slug: make_product(
            name=slug, slug=slug, variants=[{"quantity_available": 0}]
        ).variants.get()
        for slug in slugs
    }
    cache_tags.flush()
    rounds = 150
    published = dict.fromkeys(slugs, 0)
    finished = []
    failures: list = []

    def write(slug: str) -> None:
        try:
            for n in range(1, rounds + 1):
                stock_adjust(
                    variant_id=variants[slug].pk,
                    delta=1,
                    reason="RECEIVED",
                    staff=None,
                )
                published[slug] = n
        except Exception as error:  # surfaced by the assertion below
            failures.append(error)
        finally:
            finished.append(slug)
            connection.close()

    def stock(slug: str):
        response = post(PAGE, {"slug": slug})
        product = response.json["data"]["product"]
        return product["variants"][0]["quantityAvailable"], response.x_cache

    reads = hits = 0
    writers = [threading.Thread(target=write, args=(slug,)) for slug in slugs]
    for writer in writers:
        writer.start()
    try:
        while len(finished) < len(slugs) or reads < rounds * len(slugs):
            slug = slugs[reads % len(slugs)]
            floor = published[slug]
            seen, x_cache = stock(slug)
            if seen < floor:
                failures.append((slug, floor, seen, x_cache))
            reads += 1
            hits += x_cache == "HIT"
    finally:
        for writer in writers:
            writer.join()
    assert failures == []
    assert published == dict.fromkeys(slugs, rounds)
    assert hits > 0
    assert [stock(slug)[0] for slug in slugs] == [rounds] * len(slugs)


# ---------------------------------------------------------------- the edge


class FakeCDN:
    """A local stand-in for a CDN's purge API: records each call, answers as
    Fastly and Cloudflare do (or ``status``)."""

    def __init__(self) -> None:
        import http.server
        import json

        calls = self.calls = []
        self.status = 200

        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                calls.append((self.path, dict(self.headers), body))
                answer = json.dumps({"success": fake.status == 200, "status": "ok"})
                self.send_response(fake.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer.encode())

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def cdn(settings, monkeypatch):
    from celery import current_app

    fake = FakeCDN()
    settings.GRAPHQL_CACHE_PURGE_SERVICE = "zone-or-service"
    settings.GRAPHQL_CACHE_PURGE_TOKEN = "secret-token"
    settings.GRAPHQL_CACHE_PURGE_URL = fake.url
    settings.GRAPHQL_CACHE_TAG_HEADERS = True
    # The task runs in the test (no worker here), as a worker would run it.
    monkeypatch.setattr(current_app.conf, "task_always_eager", True)
    yield fake
    fake.close()


def _get(query: str, variables: dict):
    from tests.schema.test_response_cache import get

    return get({"query": query, "variables": variables})


def test_cacheable_gets_name_their_tags_for_a_cdn(shop, cdn):
    mug = shop["mug"]
    miss = _get(PAGE, {"slug": "mug"})
    hit = _get(PAGE, {"slug": "mug"})
    assert (miss.x_cache, hit.x_cache) == ("MISS", "HIT")
    expected = {"all", f"product-{mug.pk}", "sales"}  # the page shows prices
    for response in (miss, hit):
        assert set(response.headers["surrogate-key"].split(" ")) == expected
        assert set(response.headers["cache-tag"].split(",")) == expected
    listing = _get(LISTING, {"category": "kitchen"})
    assert {"all", "products", "categories", f"product-{mug.pk}"} <= set(
        listing.headers["surrogate-key"].split(" ")
    )
    assert "surrogate-key" not in post(PAGE, {"slug": "mug"}).headers  # POST


@pytest.mark.parametrize("backend", ["fastly", "cloudflare"])
def test_a_change_purges_its_tags_at_the_cdn(shop, cdn, settings, backend):
    settings.GRAPHQL_CACHE_PURGE = backend
    with committed():
        ProductVariant.objects.filter(sku="MUG-1").update(quantity_available=2)
    [(path, headers, body)] = cdn.calls
    mug, variant = shop["mug"], shop["mug_variant"]
    if backend == "fastly":
        assert path == "/service/zone-or-service/purge"
        assert headers["Fastly-Key"] == "secret-token"
        assert headers["Surrogate-Key"] == f"product-{mug.pk} variant-{variant.pk}"
    else:
        import json

        assert path == "/zones/zone-or-service/purge_cache"
        assert headers["Authorization"] == "Bearer secret-token"
        assert json.loads(body) == {
            "tags": [f"product-{mug.pk}", f"variant-{variant.pk}"]
        }


def test_emptying_the_cache_purges_everything_and_big_purges_are_batched(
    shop, cdn, settings
):
    import json

    settings.GRAPHQL_CACHE_PURGE = "cloudflare"
    cache_tags.invalidate_all()
    assert json.loads(cdn.calls[0][2]) == {"tags": ["all"]}
    cdn.calls.clear()
    from shop.core import cdn as cdn_module

    cdn_module.purge([f"product-{n}" for n in range(31)])
    assert [len(json.loads(body)["tags"]) for _, _, body in cdn.calls] == [30, 1]


def test_a_refused_purge_raises_so_that_the_task_retries(shop, cdn, settings):
    from shop.core import cdn as cdn_module

    settings.GRAPHQL_CACHE_PURGE = "fastly"
    cdn.status = 503
    with pytest.raises(cdn_module.PurgeError):
        cdn_module.purge(["product-1"])


def test_without_a_purge_backend_no_tag_headers_are_sent(shop, settings):
    settings.GRAPHQL_CACHE_TAG_HEADERS = False
    assert "surrogate-key" not in _get(PAGE, {"slug": "mug"}).headers


# ---------------------------------------------------------------- time


def test_an_answer_with_a_time_boundary_is_not_served_past_it(shop, monkeypatch):
    """Something the answer shows changes at a set time (a sale that starts or
    ends): whatever records the boundary (cache_tags.valid_until, here from the
    product list), the entry ends with it and GETs tell CDNs no longer."""
    from shop.catalog import selectors
    from tests.schema.test_response_cache import get

    product_list = selectors.product_list
    boundary = {"at": timezone.now() + timedelta(seconds=2)}

    def with_a_boundary(**kwargs):
        cache_tags.valid_until(boundary["at"])
        return product_list(**kwargs)

    monkeypatch.setattr(selectors, "product_list", with_a_boundary)
    query = {"query": LISTING, "variables": {"category": "kitchen"}}
    miss = get(query)
    hit = get(query)
    assert (miss.x_cache, hit.x_cache) == ("MISS", "HIT")
    for response in (miss, hit):
        max_age = int(response.headers["cache-control"].split("max-age=")[1])
        assert 0 < max_age <= 2
    [key] = [
        key
        for key in get_redis_connection("default").scan_iter(match="*gql:response:*")
    ]
    assert 0 < get_redis_connection("default").pttl(key) <= 2000

    time.sleep(2.05)
    boundary["at"] = timezone.now() - timedelta(seconds=1)  # already past: not kept
    assert get(query).x_cache == "MISS"
    assert get(query).x_cache == "MISS"


SALE_PAGE = """query Page($slug: String!) {
  product(slug: $slug) {
    priceRange { min { amount } }
    variants { sku price { amount } compareAtPrice { amount } }
  }
}"""


def _sale_page() -> tuple[str, dict]:
    response = post(SALE_PAGE, {"slug": "mug"})
    product = response.json["data"]["product"]
    [variant] = product["variants"]
    price = (
        variant["price"]["amount"],
        (variant["compareAtPrice"] or {}).get("amount"),
        product["priceRange"]["min"]["amount"],
    )
    return response.x_cache, price


@pytest.mark.parametrize("edge", ["start", "end"])
def test_a_sale_starting_or_ending_changes_cached_prices_at_its_boundary(shop, edge):
    """The mug's page is cached before a sale starts (or ends) two seconds later:
    it is kept no longer than the boundary; past it, an answer is not cached until
    the boundary is applied (what the task scheduled for that moment does), and
    then shows the new prices and is cached again."""
    from shop.discounts.models import Sale
    from workers.tasks.discounts import sales_apply_at

    boundary = timezone.now() + timedelta(seconds=2)
    with committed():
        sale = Sale.objects.create(name="Mugs", value=20, **{f"{edge}s_at": boundary})
        sale.products.add(shop["mug"])
        sales_apply_at.apply(args=[""])
    regular, on_sale = ("8.00", None, "8.00"), ("6.40", "8.00", "6.40")
    before, past = (regular, on_sale) if edge == "start" else (on_sale, regular)
    assert _sale_page() == ("MISS", before)
    assert _sale_page() == ("HIT", before)
    [key] = cached_entries()
    assert 0 < get_redis_connection("default").pttl(key) <= 2000

    time.sleep(max(0.0, (boundary - timezone.now()).total_seconds()) + 0.05)
    # Past the boundary, not applied yet: the old entry is gone and nothing is
    # kept until the prices are right.
    assert _sale_page()[0] == "MISS"
    assert _sale_page()[0] == "MISS"
    with committed():
        assert sales_apply_at.apply(args=[boundary.isoformat()]).get() == 1
    assert _sale_page() == ("MISS", past)
    assert _sale_page() == ("HIT", past)


def test_editing_a_sale_drops_the_answers_that_show_prices(shop):
    from shop.discounts.models import Sale

    assert _sale_page()[0] == "MISS"
    assert post(LISTING, {"category": "kitchen"}).x_cache == "MISS"
    with committed():
        Sale.objects.create(
            name="Later", value=10, starts_at=timezone.now() + timedelta(days=1)
        )
    assert _sale_page()[0] == "MISS"  # it shows prices: its boundaries may have moved
    assert post(LISTING, {"category": "kitchen"}).x_cache == "HIT"  # no prices shown


def test_adding_or_deleting_an_image_drops_its_product_s_answers(shop, media_storage):
    from shop.catalog.media import media_create, media_delete
    from tests.media_helpers import image_bytes

    before = fill()
    with committed():
        media = media_create(product=shop["mug"], upload=image_bytes(), alt="Mug")
    assert after(before) == {
        "lamp page": ("HIT", False),
        "mug page": ("MISS", False),  # the page does not ask for media
        "lights listing": ("HIT", False),
        "kitchen listing": ("MISS", False),
    }
    query = '{ product(slug: "mug") { media { alt } } }'
    assert post(query).json["data"]["product"]["media"] == [{"alt": "Mug"}]
    assert post(query).x_cache == "HIT"
    with committed():
        media_delete(media_id=media.pk)
    gone = post(query)
    assert (gone.x_cache, gone.json["data"]["product"]["media"]) == ("MISS", [])
