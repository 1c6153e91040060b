"""Enqueue Celery tasks by name, after the transaction commits.

shop/ never imports workers/: it names tasks. The Celery app (workers.app, loaded by
Django as the ``workers`` app) resolves the name; in embedded mode it runs the task
in-process, eagerly.
"""

import logging

from celery import current_app
from django.db import transaction

logger = logging.getLogger(__name__)


def enqueue_on_commit(task_name: str, *args) -> None:
    """Send ``task_name(*args)`` once the current transaction commits (never on
    rollback). A broker outage is logged, not raised: the change it follows is
    already committed."""

    def send() -> None:
        try:
            current_app.tasks[task_name].delay(*args)
        except Exception:
            logger.exception("Task %s%r was not enqueued", task_name, args)

    transaction.on_commit(send)
