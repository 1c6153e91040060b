"""Building blocks for image tests: images made with Pillow, storage in a
temporary folder, and GraphQL multipart requests as apollo-upload-client sends
them."""

import io
import json

from django.test import Client
from graphql_jwt.shortcuts import get_token
from PIL import Image

CREATE = """mutation(
  $productId: ID!, $image: Upload!, $alt: String, $variantIds: [ID!]
) {
  productMediaCreate(
    productId: $productId, image: $image, alt: $alt, variantIds: $variantIds
  ) {
    product { media { id alt width height url } }
    errors { field code message }
  }
}"""


def image_bytes(
    kind="JPEG", size=(640, 480), color=(200, 30, 30), mode="RGB", **save
) -> bytes:
    image = Image.new(mode, size, color)
    out = io.BytesIO()
    image.save(out, kind, **save)
    return out.getvalue()


def upload(
    data: bytes,
    *,
    product_id: str,
    user=None,
    filename="photo.jpg",
    content_type="image/jpeg",
    alt=None,
    variant_ids=None,
    preflight=True,
    client: Client | None = None,
):
    """POST a GraphQL multipart request (operations, map, the file) to
    /graphql/, as apollo-upload-client does; the Django response."""
    operations = {
        "query": CREATE,
        "variables": {
            "productId": product_id,
            "image": None,
            "alt": alt,
            "variantIds": variant_ids,
        },
    }
    headers = {}
    if preflight:
        headers["HTTP_APOLLO_REQUIRE_PREFLIGHT"] = "true"
    if user is not None:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {get_token(user)}"
    file = io.BytesIO(data)
    file.name = filename
    file.content_type = content_type
    from django.core.files.uploadedfile import SimpleUploadedFile

    return (client or Client()).post(
        "/graphql/",
        {
            "operations": json.dumps(operations),
            "map": json.dumps({"0": ["variables.image"]}),
            "0": SimpleUploadedFile(filename, data, content_type=content_type),
        },
        **headers,
    )
