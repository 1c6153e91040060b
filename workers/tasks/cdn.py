"""CDN tasks: cache tags in, the CDN's purge API called, safe to run twice."""

import requests
from celery import shared_task

from shop.core.cdn import PurgeError, purge


@shared_task(
    name="workers.tasks.cdn.cdn_purge",
    autoretry_for=(PurgeError, requests.RequestException),
    retry_backoff=True,
    retry_backoff_max=60,
    max_retries=8,
)
def cdn_purge_task(tags: list[str]) -> int:
    """Have the CDN drop what it keeps under these tags (GRAPHQL_CACHE_PURGE)."""
    purge(tags)
    return len(tags)
