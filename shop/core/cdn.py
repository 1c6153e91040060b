"""A CDN in front of the API: the cache tags of what an answer contains, named in
its headers, and purged through the CDN's API when they change.

The response cache (schema.response_cache) sends, on cacheable anonymous GETs,
``Surrogate-Key`` (Fastly, Varnish: space-separated) and ``Cache-Tag``
(Cloudflare: comma-separated) with the answer's tags (shop.catalog.cache_tags):
``product-42``, ``category-7``, ``products``... and ``all`` on every answer (the
cache's ``*``). When a write changes tags, ``cdn_purge`` (a Celery task: the API
is never waited for in a request) asks the CDN to drop what it keeps under them.

Two purgers ship: Fastly (``POST /service/<id>/purge`` with the keys in a
``Surrogate-Key`` header, 256 keys a call, soft purge: marked stale rather than
deleted) and Cloudflare (``POST /zones/<id>/purge_cache`` with ``{"tags":
[...]}``, 30 tags a call). Another CDN: a class with ``purge(tags)`` named by its
dotted path in GRAPHQL_CACHE_PURGE.
"""

from collections.abc import Iterable

import requests
from django.conf import settings
from django.utils.module_loading import import_string

TIMEOUT_SECONDS = 10


def header_tag(tag: str) -> str:
    """A cache tag as CDNs take it: ``*`` (everything) is ``all``."""
    return "all" if tag == "*" else tag


def _batches(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class PurgeError(Exception):
    """The CDN did not accept a purge (retried by the task)."""


class FastlyPurger:
    BATCH = 256

    def __init__(self, *, service: str, token: str, url: str = "") -> None:
        self.service, self.token = service, token
        self.url = (url or "https://api.fastly.com").rstrip("/")

    def purge(self, tags: list[str]) -> None:
        for batch in _batches(tags, self.BATCH):
            response = requests.post(
                f"{self.url}/service/{self.service}/purge",
                headers={
                    "Fastly-Key": self.token,
                    "Surrogate-Key": " ".join(batch),
                    "Fastly-Soft-Purge": "1",
                    "Accept": "application/json",
                },
                timeout=TIMEOUT_SECONDS,
            )
            if response.status_code != 200:
                raise PurgeError(f"Fastly answered {response.status_code}")


class CloudflarePurger:
    BATCH = 30

    def __init__(self, *, service: str, token: str, url: str = "") -> None:
        self.zone, self.token = service, token
        self.url = (url or "https://api.cloudflare.com/client/v4").rstrip("/")

    def purge(self, tags: list[str]) -> None:
        for batch in _batches(tags, self.BATCH):
            response = requests.post(
                f"{self.url}/zones/{self.zone}/purge_cache",
                headers={"Authorization": f"Bearer {self.token}"},
                json={"tags": batch},
                timeout=TIMEOUT_SECONDS,
            )
            if response.status_code != 200 or not response.json().get("success"):
                raise PurgeError(f"Cloudflare answered {response.status_code}")


PURGERS = {"fastly": FastlyPurger, "cloudflare": CloudflarePurger}


def purger():
    """The configured purger (GRAPHQL_CACHE_PURGE), or None."""
    name = settings.GRAPHQL_CACHE_PURGE
    if not name:
        return None
    cls = PURGERS.get(name.lower()) or import_string(name)
    return cls(
        service=settings.GRAPHQL_CACHE_PURGE_SERVICE,
        token=settings.GRAPHQL_CACHE_PURGE_TOKEN,
        url=settings.GRAPHQL_CACHE_PURGE_URL,
    )


def purge(tags: Iterable[str]) -> None:
    """Purge these cache tags at the CDN now (raises PurgeError, or requests'
    errors, when it does not accept them)."""
    found = purger()
    if found is not None:
        found.purge(sorted({header_tag(tag) for tag in tags}))
