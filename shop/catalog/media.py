"""Product images: what an upload must be, how it is stored, and its renditions.

**An upload** is judged by its content, never by its name or declared type: Pillow
opens it (``verify`` first, then a real open), and only JPEG, PNG, WEBP and AVIF
(when this Pillow has AVIF: ``AVIF_SUPPORTED``) pass; SVG, GIF and anything else
are INVALID. It may hold at most MEDIA_MAX_BYTES and MEDIA_MAX_PIXELS (more
pixels is a hard error, before any decoding: a decompression bomb is refused, not
opened). Its orientation is applied (``exif_transpose``), so ``width`` and
``height`` are those of the upright image, and it is stored re-encoded without any
metadata (EXIF with GPS, XMP, comments, ICC profiles: a photo's location is
personal data).

**Names** are content-addressed: ``products/<sha256 of the stored bytes>/original.
<ext>``, and each rendition beside it, ``<size>.<ext>``. A new upload is a new
name, so every URL is cached forever (``Cache-Control: immutable``).

**Renditions**: the longest side from a fixed list (SIZES; a requested size is
rounded up, a size above the original's is the original's: never upscaled), in
WEBP, AVIF (when supported), JPEG, or the original's own format. They are made
once: on the file system a task after each upload makes the common ones, and the
first request for any other (served by the shop: shop.catalog.views.media_file)
makes it under a Redis lock, so a burst of requests for a new size makes it once;
on a remote store (S3), whose URLs the shop does not serve, the task makes every
size and format up to the original's.
"""

import contextlib
import hashlib
import io
import logging
import warnings
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, default_storage
from django.db import transaction
from django_redis import get_redis_connection
from PIL import Image, ImageDraw, ImageOps, UnidentifiedImageError, features
from redis.exceptions import RedisError

from shop.catalog.errors import CatalogError, ErrorCode
from shop.catalog.models import Product, ProductMedia, ProductVariant

logger = logging.getLogger(__name__)

SIZES = (32, 64, 128, 256, 512, 1024, 2048)
AVIF_SUPPORTED = features.check("avif")
# Format -> file extension, for what is stored and served.
EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "AVIF": "avif"}
ACCEPTED = frozenset(f for f in EXTENSIONS if f != "AVIF" or AVIF_SUPPORTED)
CONTENT_TYPES = {
    "jpg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "avif": "image/avif",
}
# Encoder settings: good for photos at a fraction of the bytes.
SAVE_OPTIONS = {
    "JPEG": {"quality": 85, "optimize": True, "progressive": True},
    "PNG": {"optimize": True},
    "WEBP": {"quality": 82, "method": 4},
    "AVIF": {"quality": 60, "speed": 8},
}
# Made by the task after each upload; the rest on first request.
EAGER_RENDITIONS = tuple((size, "WEBP") for size in (256, 512, 1024))
LOCK_SECONDS = 60


def _refused(message: str) -> CatalogError:
    return CatalogError(ErrorCode.INVALID, message, field="image")


@dataclass(frozen=True)
class Prepared:
    """An upload made safe: its bytes as stored, their format and digest."""

    content: bytes
    format: str
    width: int
    height: int
    digest: str

    @property
    def name(self) -> str:
        return f"products/{self.digest}/original.{EXTENSIONS[self.format]}"

    @property
    def fields(self) -> dict:
        """ProductMedia's columns for this image (stored with media_store)."""
        return {
            "image": self.name,
            "digest": self.digest,
            "format": self.format,
            "width": self.width,
            "height": self.height,
        }


def pillow_configure() -> None:
    """Pillow's decompression-bomb check at the pixel cap, as an error: an image
    over MEDIA_MAX_PIXELS is refused from its header, before any decoding. Set
    once per process (Pillow's limit and warning filters are process-wide)."""
    Image.MAX_IMAGE_PIXELS = settings.MEDIA_MAX_PIXELS
    warnings.simplefilter("error", Image.DecompressionBombWarning)


def _opened(data: bytes) -> Image.Image:
    """``data`` opened as an image of an accepted format, within the pixel cap;
    CatalogError INVALID otherwise. The size comes from the header and is judged
    before anything is decoded (here, and by Pillow: ``pillow_configure``)."""
    limit = settings.MEDIA_MAX_PIXELS
    try:
        with Image.open(io.BytesIO(data)) as probe:
            if probe.format not in ACCEPTED:
                raise _refused(_accepted_message())
            if probe.width * probe.height > limit:
                raise _refused(_pixels_message())
            kind = probe.format
            probe.verify()
        image = Image.open(io.BytesIO(data))
        if image.format != kind:
            raise _refused(_accepted_message())
        image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _refused(_pixels_message()) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise _refused(_accepted_message()) from error
    return image


def _accepted_message() -> str:
    kinds = ", ".join(sorted(ACCEPTED))
    return f"Upload a {kinds} image (the file's content decides, not its name)."


def _pixels_message() -> str:
    most = settings.MEDIA_MAX_PIXELS / 1_000_000
    return f"An image may have at most {most:g} megapixels."


def _encoded(image: Image.Image, kind: str) -> bytes:
    """``image`` encoded as ``kind`` with nothing but its pixels."""
    if kind == "JPEG" and image.mode not in ("RGB", "L"):
        image = _flattened(image)
    elif kind in ("WEBP", "AVIF") and image.mode not in ("RGB", "RGBA", "L"):
        image = image.convert("RGBA" if _has_alpha(image) else "RGB")
    elif kind == "PNG" and image.mode not in ("RGB", "RGBA", "L", "LA", "P", "1"):
        image = image.convert("RGBA")
    clean = Image.new(image.mode, image.size)  # no info, no EXIF, no ICC profile
    if image.mode == "P":
        clean.putpalette(image.getpalette())
        if "transparency" in image.info:
            clean.info["transparency"] = image.info["transparency"]
    clean.paste(image)
    out = io.BytesIO()
    options = dict(SAVE_OPTIONS[kind])
    if kind == "PNG" and "transparency" in clean.info:
        options["transparency"] = clean.info["transparency"]
    clean.save(out, kind, **options)
    return out.getvalue()


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info


def _flattened(image: Image.Image) -> Image.Image:
    """RGB on white (JPEG has no transparency)."""
    if not _has_alpha(image):
        return image.convert("RGB")
    rgba = image.convert("RGBA")
    background = Image.new("RGB", rgba.size, (255, 255, 255))
    background.paste(rgba, mask=rgba.getchannel("A"))
    return background


def image_prepared(upload) -> Prepared:
    """An uploaded file (a Django UploadedFile, or bytes) checked and made safe;
    CatalogError INVALID (field "image") when it is not an accepted image, is over
    the byte or pixel cap, or is not a file at all (a string where a file part
    was expected)."""
    if not isinstance(upload, bytes) and not hasattr(upload, "read"):
        raise _refused("Send the image as a file part.")
    size = len(upload) if isinstance(upload, bytes) else upload.size
    if size > settings.MEDIA_MAX_BYTES:
        most = settings.MEDIA_MAX_BYTES / (1024 * 1024)
        raise _refused(f"An image may have at most {most:g} MiB.")
    data = upload if isinstance(upload, bytes) else upload.read(size + 1)
    if len(data) > settings.MEDIA_MAX_BYTES:
        raise _refused("The image is larger than it said.")
    image = _opened(data)
    kind = image.format
    upright = ImageOps.exif_transpose(image)
    if getattr(image, "n_frames", 1) > 1:
        upright.seek(0)  # an animated WEBP or PNG: its first frame
    content = _encoded(upright, kind)
    return Prepared(
        content=content,
        format=kind,
        width=upright.width,
        height=upright.height,
        digest=hashlib.sha256(content).hexdigest(),
    )


# ---------------------------------------------------------------- services


def media_create_by_id(*, product_id: int, **kwargs) -> ProductMedia:
    """``media_create`` for the product ``product_id`` (CatalogError NOT_FOUND,
    field productId, when there is none)."""
    product = Product.objects.filter(pk=product_id).first()
    if product is None:
        raise CatalogError(ErrorCode.NOT_FOUND, "No such product.", field="productId")
    return media_create(product=product, **kwargs)


@transaction.atomic
def media_create(
    *,
    product: Product,
    upload,
    alt: str = "",
    variant_ids: Iterable[int] = (),
    renditions: bool = True,
) -> ProductMedia:
    """Add an image to ``product`` (last in its order), showing ``variant_ids``
    (which must be the product's: CatalogError NOT_FOUND otherwise). The file is
    stored before the row is committed; the common renditions are made by a task
    on commit (``renditions``; without it, on first request)."""
    alt = (alt or "").strip()
    if len(alt) > 250:
        raise CatalogError(ErrorCode.INVALID, "At most 250 characters.", field="alt")
    variant_ids = list(dict.fromkeys(variant_ids))
    variants = list(ProductVariant.objects.filter(pk__in=variant_ids, product=product))
    if len(variants) != len(variant_ids):
        raise CatalogError(
            ErrorCode.NOT_FOUND, "Not a variant of this product.", field="variantIds"
        )
    prepared = image_prepared(upload)
    media_store(prepared)
    last = product.media.order_by("-sort_order").values_list("sort_order", flat=True)
    media = ProductMedia.objects.create(
        product=product,
        **prepared.fields,
        alt=alt,
        sort_order=(last.first() or 0) + 1 if last.exists() else 0,
    )
    media.variants.set(variants)
    if renditions:
        from shop.core.tasks import enqueue_on_commit

        enqueue_on_commit(RENDITIONS_TASK, media.pk)
    return media


RENDITIONS_TASK = "workers.tasks.media.media_renditions_make"


def media_store(prepared: Prepared) -> str:
    """Store a prepared upload under its content-addressed name (once); the name."""
    if not default_storage.exists(prepared.name):
        _store(prepared.name, prepared.content)
    return prepared.name


def _store(name: str, content: bytes) -> None:
    """Save ``content`` under ``name`` with its content type (S3 serves what it
    was told). Names are content-addressed: if another request stored the same
    bytes meanwhile and the storage picked another name, that copy goes."""
    file = ContentFile(content)
    file.content_type = CONTENT_TYPES[name.rsplit(".", 1)[1]]
    saved = default_storage.save(name, file)
    if saved != name:
        default_storage.delete(saved)


def media_delete(*, media_id: int) -> Product | None:
    """Delete an image; its product, or None when there was no such image. The
    files stay (another image may have the same bytes; URLs already handed out
    keep working): see README for cleaning up."""
    media = ProductMedia.objects.select_related("product").filter(pk=media_id).first()
    if media is None:
        return None
    product = media.product
    media.delete()
    return product


# ---------------------------------------------------------------- renditions


def rendition_size(size: int | None, longest: int) -> int:
    """The list size a request for ``size`` gets, for an original whose longest
    side is ``longest``: the smallest of SIZES at least as large (the largest
    when none is), never above the one the original itself gets (sizes above
    the original are the original's: nothing is upscaled)."""

    def rounded_up(wanted: int) -> int:
        return next((s for s in SIZES if s >= wanted), SIZES[-1])

    own = rounded_up(longest)
    return own if size is None else min(rounded_up(size), own)


def rendition_name(digest: str, size: int, extension: str) -> str:
    return f"products/{digest}/{size}.{extension}"


def format_of(requested: str | None, original: str) -> str:
    """The format a request gets: WEBP, AVIF (JPEG where AVIF is not supported),
    JPEG, or the original's (ORIGINAL, None)."""
    if requested in (None, "ORIGINAL"):
        return original
    if requested == "AVIF" and not AVIF_SUPPORTED:
        return "JPEG"
    return requested


def rendition_make(digest: str, size: int, kind: str) -> str:
    """Make (once) the rendition of the stored original ``digest`` with its
    longest side ``size`` (never upscaled) in ``kind``; its storage name. Under a
    Redis lock per rendition: concurrent first requests wait for one maker."""
    name = rendition_name(digest, size, EXTENSIONS[kind])
    if default_storage.exists(name):
        return name
    original = ProductMedia.objects.filter(digest=digest).values_list(
        "image", flat=True
    )
    original = original.first()
    if original is None:
        raise FileNotFoundError(digest)
    try:
        lock = get_redis_connection("default").lock(
            f"media:rendition:{name}", timeout=LOCK_SECONDS, blocking_timeout=30
        )
        acquired = lock.acquire()
    except RedisError:
        logger.warning("Rendition lock unavailable; making %s without it", name)
        lock, acquired = None, False
    try:
        if default_storage.exists(name):
            return name
        with default_storage.open(original, "rb") as stored:
            image = Image.open(io.BytesIO(stored.read()))
            image.load()
        image.thumbnail((size, size), Image.Resampling.LANCZOS)
        _store(name, _encoded(image, kind))
        return name
    finally:
        if lock is not None and acquired:
            with contextlib.suppress(RedisError):
                lock.release()


def renditions_make(media_id: int) -> int:
    """The renditions of an image made ahead of requests; how many were made.
    On the file system, the common ones (EAGER_RENDITIONS): the shop makes any
    other on its first request. On a remote store (S3), whose URLs the shop does
    not serve, every size up to the original's in every format, so that every URL
    Image.url hands out loads."""
    media = ProductMedia.objects.filter(pk=media_id).first()
    if media is None:
        return 0
    longest = max(media.width, media.height)
    largest = rendition_size(None, longest)
    if isinstance(default_storage, FileSystemStorage):
        wanted = [
            (rendition_size(size, longest), kind) for size, kind in EAGER_RENDITIONS
        ]
    else:
        kinds = {"WEBP", "JPEG", media.format} | ({"AVIF"} if AVIF_SUPPORTED else set())
        wanted = [
            (size, kind) for size in SIZES if size <= largest for kind in sorted(kinds)
        ]
    made = 0
    for size, kind in dict.fromkeys(wanted):
        name = rendition_name(media.digest, size, EXTENSIONS[kind])
        if not default_storage.exists(name):
            rendition_make(media.digest, size, kind)
            made += 1
    return made


def media_url(media: ProductMedia, size: int | None, kind: str | None) -> str:
    """The URL of ``media`` at ``size`` in ``kind`` (relative to the storage's
    base URL: the caller makes it absolute)."""
    if size is None and kind in (None, "ORIGINAL"):
        return default_storage.url(media.image.name)
    chosen = format_of(kind, media.format)
    key = rendition_size(size, max(media.width, media.height))
    return default_storage.url(rendition_name(media.digest, key, EXTENSIONS[chosen]))


# ---------------------------------------------------------------- the demo

PALETTE = {
    "black": (33, 33, 33),
    "white": (240, 240, 236),
    "blue": (52, 101, 164),
    "green": (78, 154, 6),
    "red": (204, 0, 0),
    "graphite": (85, 87, 83),
    "sand": (233, 214, 170),
    "navy": (32, 45, 90),
}


def demo_image(title: str, color: str | None = None, size: int = 800) -> bytes:
    """A JPEG for the demo: a coloured card with a shape and ``title`` (drawn with
    Pillow, nothing downloaded)."""
    seed = int(hashlib.sha256(title.encode()).hexdigest()[:6], 16)
    fill = PALETTE.get((color or "").lower()) or (
        80 + seed % 150,
        80 + (seed >> 8) % 150,
        80 + (seed >> 16) % 150,
    )
    image = Image.new("RGB", (size, size), (250, 250, 248))
    draw = ImageDraw.Draw(image)
    margin = size // 8
    if seed % 2:
        draw.ellipse((margin, margin, size - margin, size - margin), fill=fill)
    else:
        draw.rounded_rectangle(
            (margin, margin, size - margin, size - margin), radius=size // 10, fill=fill
        )
    label = title if color is None else f"{title} ({color})"
    draw.text((size // 16, size - size // 12), label, fill=(20, 20, 20))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()
