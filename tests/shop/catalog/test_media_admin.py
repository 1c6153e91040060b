"""Images in the product admin: uploaded through the API's checks, previewed,
edited, refused when not an accepted image."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from shop.catalog.models import ProductMedia
from tests.admin_helpers import form_data
from tests.factories import make_product
from tests.media_helpers import image_bytes

pytestmark = pytest.mark.django_db


def change(admin_client, product, **fields):
    url = reverse("admin:catalog_product_change", args=[product.pk])
    data = form_data(admin_client, url)
    data.update(fields)
    return admin_client.post(url, data)


def test_staff_upload_an_image_inline_and_see_its_preview(admin_client, media_storage):
    product = make_product(name="Lamp", variants=[{"sku": "RED"}, {"sku": "BLUE"}])
    red = product.variants.get(sku="RED")
    response = change(
        admin_client,
        product,
        **{
            "media-0-upload": SimpleUploadedFile(
                "lamp.png", image_bytes("PNG", size=(300, 200)), "image/png"
            ),
            "media-0-alt": "The red lamp",
            "media-0-sort_order": "0",
            "media-0-variants": [str(red.pk)],
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    media = ProductMedia.objects.get()
    assert (media.alt, media.width, media.height, media.format) == (
        "The red lamp", 300, 200, "PNG",
    )  # fmt: skip
    assert list(media.variants.all()) == [red]
    page = admin_client.get(reverse("admin:catalog_product_change", args=[product.pk]))
    assert f"/media/products/{media.digest}/128.webp".encode() in page.content
    assert (
        admin_client.get(f"/media/products/{media.digest}/128.webp").status_code == 200
    )


def test_a_file_that_is_not_an_accepted_image_is_refused_inline(
    admin_client, media_storage
):
    product = make_product(name="Lamp", variants=[{"sku": "RED"}])
    response = change(
        admin_client,
        product,
        **{
            "media-0-upload": SimpleUploadedFile(
                "lamp.jpg", image_bytes("GIF", size=(10, 10)), "image/jpeg"
            ),
            "media-0-alt": "x",
            "media-0-sort_order": "0",
        },
    )
    assert response.status_code == 200
    assert b"Upload a " in response.content
    assert ProductMedia.objects.count() == 0
