"""productMediaCreate through the real multipart endpoint: what is accepted, what
is refused (by content, size, pixels), metadata stripped, who may upload."""

import io

import pytest
from django.contrib.auth.models import Permission
from django.core.files.storage import default_storage
from PIL import Image
from strawberry.relay import to_base64

from shop.catalog.models import ProductMedia
from tests.factories import UserFactory, make_product
from tests.media_helpers import image_bytes, upload

pytestmark = pytest.mark.django_db


@pytest.fixture
def editor(db):
    user = UserFactory(email="editor@example.com", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="change_product"))
    return user


@pytest.fixture
def product(db):
    return make_product(
        name="Lamp", slug="lamp", variants=[{"sku": "RED"}, {"sku": "BLUE"}]
    )


def stored(media_storage) -> list:
    """The files the storage holds: a refused upload leaves none."""
    return [p for p in media_storage.rglob("*") if p.is_file()]


def gid(product) -> str:
    return to_base64("Product", product.pk)


def created(response) -> dict:
    assert response.status_code == 200, response.content
    payload = response.json()["data"]["productMediaCreate"]
    return payload


@pytest.mark.parametrize(
    ("kind", "extension"),
    [("JPEG", "jpg"), ("PNG", "png"), ("WEBP", "webp"), ("AVIF", "avif")],
)
def test_an_image_of_each_accepted_format_is_stored(
    media_storage, editor, product, kind, extension
):
    payload = created(
        upload(
            image_bytes(kind, size=(640, 480)),
            product_id=gid(product),
            user=editor,
            filename="whatever.bin",  # the name decides nothing
            content_type="application/octet-stream",
            alt=" A red lamp ",
        )
    )
    assert payload["errors"] == []
    [image] = payload["product"]["media"]
    assert (image["alt"], image["width"], image["height"]) == ("A red lamp", 640, 480)
    stored = ProductMedia.objects.get()
    assert stored.format == kind
    assert stored.image.name == f"products/{stored.digest}/original.{extension}"
    assert image["url"] == f"http://testserver/media/{stored.image.name}"
    with default_storage.open(stored.image.name) as file:
        assert Image.open(file).format == kind


@pytest.mark.parametrize(
    ("data", "what"),
    [
        (
            b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
            "svg",
        ),
        (image_bytes("GIF", size=(20, 20)), "gif"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "a broken png"),
        (b"just text", "text"),
        (image_bytes("BMP", size=(20, 20)), "bmp"),
    ],
)
def test_anything_but_an_accepted_image_is_refused_by_its_content(
    media_storage, editor, product, data, what
):
    payload = created(
        upload(data, product_id=gid(product), user=editor, filename="photo.jpg")
    )
    assert payload["product"] is None
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [
        ("image", "INVALID")
    ], what
    assert ProductMedia.objects.count() == 0
    assert stored(media_storage) == []


def test_an_image_over_the_byte_cap_is_refused(
    media_storage, editor, product, settings
):
    settings.MEDIA_MAX_BYTES = 10_000
    noisy = Image.effect_noise((200, 200), 100).convert("RGB")
    out = io.BytesIO()
    noisy.save(out, "PNG")
    assert len(out.getvalue()) > 10_000
    payload = created(upload(out.getvalue(), product_id=gid(product), user=editor))
    assert payload["errors"][0]["code"] == "INVALID"
    assert "MiB" in payload["errors"][0]["message"]
    assert (ProductMedia.objects.count(), stored(media_storage)) == (0, [])


def test_a_body_far_over_the_cap_is_refused_before_it_is_read(
    media_storage, editor, product, settings
):
    settings.MEDIA_MAX_BYTES = 1000
    response = upload(b"x" * (2 * 1024 * 1024), product_id=gid(product), user=editor)
    assert response.status_code == 413
    assert (ProductMedia.objects.count(), stored(media_storage)) == (0, [])


def test_a_pixel_bomb_is_refused_before_it_is_decoded(
    media_storage, editor, product, settings
):
    # 10,000 x 10,000 one-colour pixels compress to a few kilobytes
    bomb = image_bytes("PNG", size=(10_000, 10_000), color=0, mode="1")
    assert len(bomb) < 100_000
    settings.MEDIA_MAX_PIXELS = 40_000_000
    payload = created(upload(bomb, product_id=gid(product), user=editor))
    assert payload["errors"][0]["code"] == "INVALID"
    assert "megapixels" in payload["errors"][0]["message"]
    assert ProductMedia.objects.count() == 0
    assert stored(media_storage) == []


def test_exif_with_gps_is_stripped_and_the_orientation_applied(
    media_storage, editor, product
):
    photo = Image.new("RGB", (600, 400), (10, 120, 200))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 (taken holding the phone upright)
    exif[0x010F] = "PhoneMaker"
    gps = {1: "N", 2: (51.0, 30.0, 0.0), 3: "W", 4: (0.0, 7.0, 0.0)}
    exif[0x8825] = gps
    out = io.BytesIO()
    photo.save(out, "JPEG", exif=exif, comment=b"secret")
    with Image.open(io.BytesIO(out.getvalue())) as sent:
        assert sent.getexif().get_ifd(0x8825)  # the upload does carry GPS
    payload = created(upload(out.getvalue(), product_id=gid(product), user=editor))
    [image] = payload["product"]["media"]
    assert (image["width"], image["height"]) == (400, 600)  # upright
    stored = ProductMedia.objects.get()
    with default_storage.open(stored.image.name) as file:
        data = file.read()
    kept = Image.open(io.BytesIO(data))
    assert kept.size == (400, 600)
    assert dict(kept.getexif()) == {}
    assert "exif" not in kept.info
    assert "comment" not in kept.info
    assert b"PhoneMaker" not in data
    assert b"secret" not in data


def test_the_image_can_show_some_of_the_product_s_variants(
    media_storage, editor, product, gql
):
    red = product.variants.get(sku="RED")
    payload = created(
        upload(
            image_bytes(),
            product_id=gid(product),
            user=editor,
            variant_ids=[to_base64("ProductVariant", red.pk)],
        )
    )
    assert payload["errors"] == []
    data = gql.ok('{ product(slug: "lamp") { variants { sku media { alt } } } }')
    media = {v["sku"]: v["media"] for v in data["product"]["variants"]}
    assert media == {"RED": [{"alt": ""}], "BLUE": []}
    other = make_product(variants=[{"sku": "ELSEWHERE"}]).variants.get()
    refused = created(
        upload(
            image_bytes(),
            product_id=gid(product),
            user=editor,
            variant_ids=[to_base64("ProductVariant", other.pk)],
        )
    )
    assert refused["errors"][0]["code"] == "NOT_FOUND"
    assert ProductMedia.objects.count() == 1  # only the first


def test_only_staff_who_may_change_products_upload(media_storage, product, staff_user):
    anonymous = upload(image_bytes(), product_id=gid(product)).json()
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    shopper = upload(image_bytes(), product_id=gid(product), user=UserFactory()).json()
    assert shopper["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    reader = upload(image_bytes(), product_id=gid(product), user=staff_user).json()
    assert reader["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert ProductMedia.objects.count() == 0
    assert stored(media_storage) == []


def test_a_multipart_request_without_a_preflight_header_is_refused(
    media_storage, editor, product
):
    response = upload(
        image_bytes(), product_id=gid(product), user=editor, preflight=False
    )
    assert response.status_code == 400
    assert b"Apollo-Require-Preflight" in response.content
    assert ProductMedia.objects.count() == 0
    assert stored(media_storage) == []


def test_more_files_than_allowed_are_refused(media_storage, editor, product, settings):
    import json

    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client
    from graphql_jwt.shortcuts import get_token

    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 3
    files = {
        str(n): SimpleUploadedFile(f"{n}.png", image_bytes("PNG"), "image/png")
        for n in range(5)
    }
    response = Client().post(
        "/graphql/",
        {"operations": json.dumps({"query": "{ __typename }"}),
         "map": json.dumps({}), **files},
        HTTP_APOLLO_REQUIRE_PREFLIGHT="true",
        HTTP_AUTHORIZATION=f"Bearer {get_token(editor)}",
    )  # fmt: skip
    assert response.status_code == 400


def test_deleting_an_image(media_storage, editor, product, gql):
    created(upload(image_bytes(), product_id=gid(product), user=editor))
    image_id = to_base64("Image", ProductMedia.objects.get().pk)
    gql.login(editor)
    deleted = gql.ok(
        """mutation($id: ID!) { productMediaDelete(id: $id) {
          product { media { id } } errors { code } } }""",
        {"id": image_id},
    )["productMediaDelete"]
    assert deleted == {"product": {"media": []}, "errors": []}
    again = gql.ok(
        """mutation($id: ID!) { productMediaDelete(id: $id) { errors { code } } }""",
        {"id": image_id},
    )["productMediaDelete"]
    assert again == {"errors": [{"code": "NOT_FOUND"}]}


def test_an_image_sent_as_json_instead_of_a_file_part_is_invalid(
    media_storage, editor, product, gql
):
    gql.login(editor)
    result = gql(
        """mutation($p: ID!, $i: Upload!) { productMediaCreate(productId: $p, image: $i)
        { errors { field code } } }""",
        {"p": gid(product), "i": "not a file"},
    )
    assert result.data["productMediaCreate"]["errors"] == [
        {"field": "image", "code": "INVALID"}
    ]
