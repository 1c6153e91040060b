"""Media tasks: the common renditions of a new image."""

from celery import shared_task

from shop.catalog.media import renditions_make


@shared_task(name="workers.tasks.media.media_renditions_make")
def media_renditions_make(media_id: int) -> int:
    """Make the common renditions of an image (the rest are made on first
    request); how many were made. Safe to run twice."""
    return renditions_make(media_id)
