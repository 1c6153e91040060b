"""The benchmark's Django side: one process per scratch database.

usage: python scripts/bench_django.py   (scripts/bench.py runs it, with the
       database and Redis in DATABASE_URL / REDIS_URL)

It reads jobs from stdin, one JSON object a line, and answers each with one JSON
line on stdout, so Django starts once per database however many jobs there are:

- ``{"job": "prepare", "catalog": "demo"}``: migrate, ``seed_demo``, and what the
  scenarios need to know (variant ids in stock, a product slug, checkout variants).
- ``{"job": "prepare", "catalog": "large", "products": N, "seed": S}``: migrate,
  ``seed_catalog --products N --seed S`` (idempotent: a catalog that has them is
  left alone), and search terms, a category and colour and size values from it.
- ``{"job": "queries", "requests": [...]}``: the SQL queries one request runs,
  counted in this process with Django's CaptureQueriesContext around Django's test
  client (the same view, middleware and settings as the server). Each request runs
  three times (a
  checkout on three carts) and the last count is kept (a warm process).
- ``{"job": "carts", "lines": [[variant_pk, quantity], ...]}``: one guest cart per
  line (the cart service checks the first of each kind); their tokens.
"""

import json
import os
import re
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORD = re.compile(r"[a-z]{4,}")

VARIANTS = """{ products(first: 100, filters: {inStock: true}) {
  edges { node { slug variants { id quantityAvailable } } } } }"""


def setup() -> None:
    import django

    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")
    django.setup()


def client():
    from django.test import Client

    # production settings: an allowed host, and https as a TLS proxy would say
    return Client(HTTP_HOST="127.0.0.1", HTTP_X_FORWARDED_PROTO="https")


def graphql(query: str, variables: dict | None = None) -> dict:
    response = client().post(
        "/graphql/",
        json.dumps({"query": query, "variables": variables or {}}),
        content_type="application/json",
    )
    payload = json.loads(response.content)
    if response.status_code != 200 or payload.get("errors"):
        raise RuntimeError(f"{response.status_code}: {payload}")
    return payload["data"]


def database_pk(global_id: str) -> int:
    import base64

    return int(base64.b64decode(global_id).decode().rsplit(":", 1)[1])


def quiet_command(*args: str) -> None:
    from io import StringIO

    from django.core.management import call_command

    call_command(*args, stdout=StringIO())


def prepare_demo() -> dict:
    quiet_command("seed_demo", "--no-admin")
    products = graphql(VARIANTS)["products"]["edges"]
    variants = [
        {"id": variant["id"], "pk": database_pk(variant["id"])}
        for edge in products
        for variant in edge["node"]["variants"]
        if variant["quantityAvailable"] >= 2
    ]
    slugs = [edge["node"]["slug"] for edge in products]
    # for checkout: one variant of each of three products (the last ones listed)
    firsts = [
        {"id": edge["node"]["variants"][0]["id"]}
        for edge in products
        if edge["node"]["variants"]
    ][-3:]
    for variant in firsts:
        variant["pk"] = database_pk(variant["id"])
    shipping = graphql('{ shippingMethods(country: "US") { id } }')["shippingMethods"]
    return {
        "variants": variants,
        "checkout_variants": firsts,
        # the cheapest method to the bench's US address (the demo ships there)
        "shipping_method": shipping[0]["id"] if shipping else None,
        # the README's product page, or the first product that is in stock
        "product_slug": "lumen-x2" if "lumen-x2" in slugs else slugs[0],
    }


def prepare_large(products: int, seed: int) -> dict:
    from django.db import connection
    from django.db.models import Count

    from shop.catalog.models import AttributeValue, Category, Product

    began = time.monotonic()
    before = Product.objects.count()
    command = ["seed_catalog", "--products", str(products), "--seed", str(seed)]
    quiet_command(*command)
    after = Product.objects.count()
    load_seconds = time.monotonic() - began
    if after < products:
        raise RuntimeError(
            f"`{' '.join(command)}` left {after} products of {products} in the "
            "large catalog's database"
        )

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name FROM catalog_product TABLESAMPLE SYSTEM (2) "
            "REPEATABLE (1) LIMIT 2000"
        )
        names = [row[0] for row in cursor.fetchall()]
    words = Counter(word for name in names for word in WORD.findall(name.lower()))
    common = [word for word, _ in words.most_common(12)]
    # two single words of different frequency, and two two-word phrases
    phrases = [
        " ".join(WORD.findall(name.lower())[:2])
        for name in names[:: max(1, len(names) // 2)][:2]
        if len(WORD.findall(name.lower())) >= 2
    ]
    terms = [common[0], common[min(5, len(common) - 1)], *phrases]

    # the top-level category with the most products under it
    categories = {c.pk: c for c in Category.objects.all()}
    counts = dict(
        Product.objects.values_list("category").annotate(n=Count("id")).order_by()
    )
    totals: Counter = Counter()
    for pk, count in counts.items():
        category = categories.get(pk)
        while category is not None and category.parent_id is not None:
            category = categories.get(category.parent_id)
        if category is not None:
            totals[category.slug] += count

    def values(*slugs: str) -> list[str]:
        found = (
            AttributeValue.objects.filter(attribute__slug__in=slugs)
            .order_by("id")
            .values_list("attribute__slug", "slug")
        )
        return [list(pair) for pair in found]

    return {
        "products": after,
        "products_before": before,
        "command": " ".join(command),
        "load_seconds": load_seconds,
        "terms": terms,
        "category": totals.most_common(1)[0][0] if totals else None,
        "colors": values("color", "colour")[:6],
        "sizes": values("size")[:4],
    }


def prepare(job: dict) -> dict:
    from django.db import connection

    began = time.monotonic()
    quiet_command("migrate", "--noinput", "-v0")
    if job["catalog"] == "demo":
        result = prepare_demo()
    else:
        result = prepare_large(job["products"], job.get("seed", 1))
    result["prepare_seconds"] = time.monotonic() - began
    connection.close()
    return result


def count_queries(job: dict) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts = {}
    for request in job["requests"]:
        bodies = request.get("bodies") or [request.get("body", "")] * 3
        for body in bodies:
            with CaptureQueriesContext(connection) as captured:
                response = client().generic(
                    request["method"],
                    request["path"],
                    body,
                    content_type="application/json",
                )
            body = response.content
        counts[request["name"]] = {
            "queries": len(captured.captured_queries),
            "status": response.status_code,
            "errors": b'"errors": [{' in body or b'"errors":[{' in body,
            "cache_control": response.get("Cache-Control"),
            "bytes": len(body),
        }
    connection.close()
    return counts


def carts(job: dict) -> dict:
    """One guest cart per line. The first cart of each (variant, quantity) goes
    through the cart service (its checks: published, in stock, under the caps);
    the others, identical, are written by the cart store the way the service
    writes them, without its reads (thousands of carts in a second)."""
    from django.conf import settings
    from django.contrib.auth.models import AnonymousUser
    from django.db import connection

    from shop.cart import store
    from shop.cart.services import cart_lines_add

    guest = AnonymousUser()
    checked: set[tuple[int, int]] = set()
    tokens = []
    for pk, quantity in job["lines"]:
        if (pk, quantity) not in checked:
            snapshot = cart_lines_add(user=guest, token=None, lines=[(pk, quantity)])
            checked.add((pk, quantity))
            tokens.append(snapshot.token)
            continue
        key = store.CartKey(token=store.new_guest_token())
        reply = store.lines_add(
            key,
            [(pk, quantity, settings.CART_MAX_LINE_QUANTITY)],
            create=True,
            max_lines=settings.CART_MAX_LINES,
        )
        if reply[0] != "ok":
            raise RuntimeError(f"cart store: {reply}")
        tokens.append(key.token)
    connection.close()
    return {"tokens": tokens}


def selling(job: dict) -> dict:
    """The selling scenario's catalog: every published product's slug with one of
    its variants (a global ID), in product order; every variant restocked to a
    million so that orders never run out during a run."""
    import base64

    from django.db import connection

    from shop.catalog.models import ProductVariant

    ProductVariant.objects.update(quantity_available=1_000_000)
    first_variants = (
        ProductVariant.objects.filter(product__is_published=True)
        .order_by("product_id", "sort_order", "id")
        .distinct("product_id")
        .values_list("product__slug", "pk")
    )
    products = [
        [slug, base64.b64encode(f"ProductVariant:{pk}".encode()).decode()]
        for slug, pk in first_variants
    ]
    connection.close()
    return {"products": products}


JOBS = {
    "prepare": prepare,
    "queries": count_queries,
    "carts": carts,
    "selling": selling,
}


def main() -> int:
    setup()
    for line in sys.stdin:
        if not line.strip():
            continue
        job = json.loads(line)
        try:
            answer = JOBS[job["job"]](job)
        except Exception as error:  # told to the caller, which stops the run
            import traceback

            answer = {"failed": repr(error), "traceback": traceback.format_exc()}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
