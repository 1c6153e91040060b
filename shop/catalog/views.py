"""Product images served by the shop itself (file-system storage): the stored
originals and renditions, made on first request when missing."""

import re

from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponseNotAllowed

from shop.catalog.media import CONTENT_TYPES, EXTENSIONS, SIZES, rendition_make

# products/<digest>/original.<ext> or products/<digest>/<size>.<ext>
_NAME = re.compile(
    r"products/(?P<digest>[0-9a-f]{64})/(?P<what>original|\d{2,4})\.(?P<ext>[a-z]{3,4})"
)
_FORMATS = {extension: kind for kind, extension in EXTENSIONS.items()}
IMMUTABLE = "public, max-age=31536000, immutable"


def media_file(request: HttpRequest, name: str):
    """GET or HEAD a stored image. Names are content-addressed, so answers are
    cacheable forever. A rendition of a known image not made yet is made now
    (once, under a lock); anything else is a 404."""
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    found = _NAME.fullmatch(name)
    if found is None or found["ext"] not in _FORMATS:
        raise Http404("No such image.")
    if not default_storage.exists(name):
        if found["what"] == "original" or int(found["what"]) not in SIZES:
            raise Http404("No such image.")
        try:
            rendition_make(found["digest"], int(found["what"]), _FORMATS[found["ext"]])
        except FileNotFoundError:
            raise Http404("No such image.") from None
    response = FileResponse(
        default_storage.open(name, "rb"), content_type=CONTENT_TYPES[found["ext"]]
    )
    response["Cache-Control"] = IMMUTABLE
    response["X-Content-Type-Options"] = "nosniff"
    return response
