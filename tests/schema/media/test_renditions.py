"""Image.url and what it serves: sizes from the fixed list, formats, renditions
made once and cached forever, listings with media in a bounded number of
queries, cached answers dropped when media change."""

import io
import threading

import pytest
from django.core.files.storage import default_storage
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from PIL import Image

from shop.catalog import media as media_service
from shop.catalog.media import rendition_make, rendition_size
from shop.catalog.models import ProductMedia
from tests.factories import make_product
from tests.media_helpers import image_bytes

pytestmark = pytest.mark.django_db

PAGE = """query($slug: String!) { product(slug: $slug) {
  thumbnail(size: 200, format: WEBP) { url alt width height
    jpeg: url(format: JPEG) full: url }
  media { url(size: 100, format: AVIF) }
} }"""


@pytest.fixture
def lamp(media_storage):
    product = make_product(name="Lamp", slug="lamp", variants=[{"sku": "L"}])
    media_service.media_create(
        product=product, upload=image_bytes("PNG", size=(1200, 600)), alt="Lamp"
    )
    return product


def fetch(url: str):
    return Client().get(url.removeprefix("http://testserver"))


def test_sizes_round_up_to_the_list_and_never_beyond_the_original():
    assert [rendition_size(s, 3000) for s in (1, 32, 33, 200, 2048, 5000)] == [
        32, 32, 64, 256, 2048, 2048,
    ]  # fmt: skip
    assert rendition_size(None, 1200) == 2048
    assert rendition_size(None, 500) == 512


def test_urls_name_the_rendition_and_it_is_made_on_first_request(gql, lamp):
    data = gql.ok(PAGE, {"slug": "lamp"})["product"]
    thumbnail = data["thumbnail"]
    digest = ProductMedia.objects.get().digest
    base = f"http://testserver/media/products/{digest}"
    assert thumbnail["url"] == f"{base}/256.webp"  # 200 rounds up to 256
    assert thumbnail["jpeg"] == f"{base}/256.jpg"  # thumbnail's size kept
    assert thumbnail["full"] == f"{base}/256.webp"
    assert (thumbnail["width"], thumbnail["height"]) == (1200, 600)
    expected_avif = "avif" if media_service.AVIF_SUPPORTED else "jpg"
    assert data["media"] == [{"url": f"{base}/128.{expected_avif}"}]

    for url, kind, size in (
        (thumbnail["url"], "WEBP", (256, 128)),
        (thumbnail["jpeg"], "JPEG", (256, 128)),
        (data["media"][0]["url"], "AVIF", (128, 64)),
    ):
        response = fetch(url)
        assert response.status_code == 200, url
        assert response["Cache-Control"] == "public, max-age=31536000, immutable"
        body = b"".join(response.streaming_content)
        image = Image.open(io.BytesIO(body))
        assert image.size == size
        if kind != "AVIF" or media_service.AVIF_SUPPORTED:
            assert image.format == kind
            assert response["Content-Type"] == f"image/{kind.lower()}"


def test_the_original_is_served_as_uploaded_format_without_resizing(gql, lamp):
    url = gql.ok('{ product(slug: "lamp") { media { url } } }')["product"]["media"][0][
        "url"
    ]
    assert url.endswith("/original.png")
    response = fetch(url)
    assert response["Content-Type"] == "image/png"
    image = Image.open(io.BytesIO(b"".join(response.streaming_content)))
    assert image.size == (1200, 600)


def test_a_size_above_the_original_gets_the_original_s_size(gql, media_storage):
    product = make_product(slug="small", variants=[{"sku": "S"}])
    media_service.media_create(product=product, upload=image_bytes(size=(300, 200)))
    url = gql.ok(
        '{ product(slug: "small") { media { url(size: 2000, format: WEBP) } } }'
    )["product"]["media"][0]["url"]
    assert url.endswith("/512.webp")
    image = Image.open(io.BytesIO(b"".join(fetch(url).streaming_content)))
    assert image.size == (300, 200)  # never upscaled


def test_unknown_names_are_404_and_only_get_is_served(lamp):
    digest = ProductMedia.objects.get().digest
    assert fetch(f"/media/products/{'0' * 64}/256.webp").status_code == 404
    assert fetch(f"/media/products/{digest}/300.webp").status_code == 404  # not a size
    assert fetch(f"/media/products/{digest}/256.gif").status_code == 404
    assert fetch("/media/../settings.py").status_code == 404
    assert Client().post(f"/media/products/{digest}/256.webp").status_code == 405


def test_a_bad_size_is_a_clear_error(gql, lamp):
    result = gql('{ product(slug: "lamp") { media { url(size: 0) } } }')
    assert result.error_codes() == ["INVALID"]


@pytest.mark.django_db(transaction=True)
def test_a_burst_of_first_requests_makes_a_rendition_once(lamp, monkeypatch):
    digest = ProductMedia.objects.get().digest
    made = []
    save = default_storage.save

    def counting_save(name, content, *args, **kwargs):
        made.append(name)
        return save(name, content, *args, **kwargs)

    monkeypatch.setattr(default_storage, "save", counting_save)
    barrier = threading.Barrier(6)

    def make():
        barrier.wait()
        rendition_make(digest, 512, "JPEG")

    def run():
        try:
            make()
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert made == [f"products/{digest}/512.jpg"]


def test_the_upload_task_makes_the_common_renditions(lamp):
    media = ProductMedia.objects.get()
    assert media_service.renditions_make(media.pk) == 3
    for size in (256, 512, 1024):
        assert default_storage.exists(f"products/{media.digest}/{size}.webp")
    assert media_service.renditions_make(media.pk) == 0  # made once


def test_a_listing_with_media_costs_one_query_more_whatever_its_size(
    gql, media_storage
):
    for n in range(12):
        product = make_product(slug=f"p{n}", variants=[{"sku": f"S{n}"}])
        for _ in range(2):
            media_service.media_create(
                product=product, upload=image_bytes(color=(n * 20, 10, 10))
            )
    plain = "{ products(first: %d) { edges { node { name } } } }"
    with_media = """{ products(first: %d) { edges { node { name
        thumbnail(size: 256) { url } media { url alt }
        variants { sku media { url } } } } } }"""
    counts = {}
    for name, query in (("plain", plain), ("media", with_media)):
        for size in (2, 12):
            with CaptureQueriesContext(connection) as queries:
                gql.ok(query % size)
            counts[name, size] = len(queries)
    assert counts["media", 2] == counts["media", 12]
    # the products' images (thumbnail shares them) and the variants' images
    plain_variants = (
        "{ products(first: 12) { edges { node { name variants { sku } } } } }"
    )
    with CaptureQueriesContext(connection) as queries:
        gql.ok(plain_variants)
    assert counts["media", 12] == len(queries) + 2
    assert counts["plain", 2] == counts["plain", 12]
