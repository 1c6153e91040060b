"""Product images: Image, ImageFormat and the url of a rendition."""

from enum import Enum

import strawberry
import strawberry_django
from strawberry import relay
from strawberry.types import Info

from schema.context import request_of
from schema.errors import graphql_error
from shop.catalog.errors import CatalogError, ErrorCode
from shop.catalog.media import SIZES, media_url
from shop.catalog.models import ProductMedia

MAX_SIZE = 10_000


@strawberry.enum(name="ImageFormat", description="What a rendition is encoded as.")
class ImageFormat(Enum):
    ORIGINAL = "ORIGINAL"
    WEBP = "WEBP"
    AVIF = "AVIF"
    JPEG = "JPEG"


def checked_size(size: int | None) -> int | None:
    """A requested size (longest side, px): 1 to MAX_SIZE; INVALID otherwise."""
    if size is not None and not 1 <= size <= MAX_SIZE:
        raise graphql_error(
            CatalogError(
                ErrorCode.INVALID,
                f"size is a longest side in pixels, 1 to {MAX_SIZE}.",
                field="size",
            )
        )
    return size


def absolute(info: Info, url: str) -> str:
    """``url`` as the client can load it: a relative one on the request's host."""
    if url.startswith(("http://", "https://", "//")):
        return url
    request = request_of(info)
    return request.build_absolute_uri(url) if request is not None else url


@strawberry_django.type(
    ProductMedia,
    name="Image",
    description="A product image: the original and its renditions.",
)
class ImageType:
    alt: str = strawberry_django.field(description="What it shows, for screen readers.")
    width: int = strawberry_django.field(
        description="Of the original, upright (orientation applied)."
    )
    height: int = strawberry_django.field(
        description="Of the original, upright (orientation applied)."
    )

    @strawberry_django.field(only=["id"], description="For productMediaDelete.")
    def id(self, root: ProductMedia) -> strawberry.ID:
        return strawberry.ID(relay.to_base64("Image", root.pk))

    @strawberry_django.field(
        only=["image", "digest", "format", "width", "height"],
        description="An absolute URL, cacheable forever (a new upload is a new "
        "URL). size: the longest side in pixels, rounded up to one of "
        f"{', '.join(map(str, SIZES))} and never above the original's; none: the "
        "original's. format: WEBP, AVIF, JPEG or ORIGINAL (the uploaded format, "
        "the default).",
    )
    def url(
        self,
        info: Info,
        root: ProductMedia,
        size: int | None = None,
        format: ImageFormat | None = None,
    ) -> str:
        default_size, default_format = getattr(root, "url_defaults", (None, None))
        size = checked_size(size if size is not None else default_size)
        chosen = format or default_format
        return absolute(
            info, media_url(root, size, None if chosen is None else chosen.value)
        )
