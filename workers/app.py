"""The Celery app, configured from Django settings (the CELERY_ namespace)."""

import os

from celery import Celery

from workers import (
    log_context,  # noqa: F401  (connects its signal handlers)
    metrics,  # noqa: F401  (counts task outcomes)
)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")

app = Celery("shop")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["workers"], related_name="tasks", force=True)
