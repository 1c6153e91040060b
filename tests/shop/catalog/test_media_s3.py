"""Product images on an S3-compatible store: moto's server on loopback (a real
HTTP server speaking S3), driven through django-storages as production is."""

import io
import subprocess
import time
from pathlib import Path

import boto3
import pytest
import requests
from PIL import Image

from shop.catalog import media
from shop.catalog.models import ProductMedia
from tests.e2e.servers import free_port, stop_group
from tests.factories import make_product
from tests.media_helpers import image_bytes

pytestmark = [pytest.mark.django_db, pytest.mark.e2e]
ROOT = Path(__file__).resolve().parents[3]
BUCKET = "shop-media"


@pytest.fixture
def s3(tmp_path, settings):
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "moto_server"), "-p", str(port)],
        stdout=(tmp_path / "moto.log").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                requests.get(endpoint, timeout=1)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        credentials = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}
        client = boto3.client(
            "s3", endpoint_url=endpoint, region_name="us-east-1", **credentials
        )
        client.create_bucket(Bucket=BUCKET)
        settings.STORAGES = {
            **settings.STORAGES,
            "default": {
                "BACKEND": "storages.backends.s3.S3Storage",
                "OPTIONS": {
                    "bucket_name": BUCKET,
                    "endpoint_url": endpoint,
                    "region_name": "us-east-1",
                    "access_key": "test",
                    "secret_key": "test",
                    "querystring_auth": False,
                    # MEDIA_S3_ACL=public-read (or a bucket policy) makes the
                    # objects readable at their URLs
                    "default_acl": "public-read",
                    "file_overwrite": True,
                    "object_parameters": {
                        "CacheControl": "public, max-age=31536000, immutable"
                    },
                    "custom_domain": f"127.0.0.1:{port}/{BUCKET}",
                    "url_protocol": "http:",
                },
            },
        }
        yield client
    finally:
        stop_group(process, strict=False)


def test_images_and_renditions_live_in_the_bucket_and_load_from_its_url(s3, gql):
    product = make_product(name="Lamp", slug="lamp", variants=[{"sku": "L"}])
    media.media_create(product=product, upload=image_bytes(size=(900, 600)), alt="x")
    stored = ProductMedia.objects.get()
    # Nothing serves first requests on S3: every size up to the original's
    # (1024 for 900 px) in every format is made by the upload's task.
    kinds = ["jpg", "webp"] + (["avif"] if media.AVIF_SUPPORTED else [])
    expected = {
        f"products/{stored.digest}/{size}.{ext}"
        for size in (32, 64, 128, 256, 512, 1024)
        for ext in kinds
    }
    assert media.renditions_make(stored.pk) == len(expected)
    keys = {item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET)["Contents"]}
    assert keys == {f"products/{stored.digest}/original.jpg", *expected}
    assert media.renditions_make(stored.pk) == 0
    head = s3.head_object(Bucket=BUCKET, Key=f"products/{stored.digest}/512.webp")
    assert head["ContentType"] == "image/webp"
    assert head["CacheControl"] == "public, max-age=31536000, immutable"

    data = gql.ok(
        '{ product(slug: "lamp") { thumbnail(size: 500, format: WEBP) { url }'
        " media { url } } }"
    )["product"]
    url = data["thumbnail"]["url"]
    assert url.startswith("http://127.0.0.1:")
    assert url.endswith("/512.webp")
    response = requests.get(url, timeout=5)
    assert response.status_code == 200
    assert Image.open(io.BytesIO(response.content)).size == (512, 341)
    original = requests.get(data["media"][0]["url"], timeout=5)
    assert original.status_code == 200
    assert Image.open(io.BytesIO(original.content)).size == (900, 600)
    small = gql.ok(
        '{ product(slug: "lamp") { media { url(size: 40, format: AVIF) } } }'
    )["product"]["media"][0]["url"]
    assert requests.get(small, timeout=5).status_code == 200
