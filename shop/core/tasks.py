"""Enqueue Celery tasks by name, after the transaction commits.

shop/ never imports workers/: it names tasks. The Celery app (workers.app, loaded by
Django as the ``workers`` app) resolves the name; in embedded mode it runs the task
in-process, eagerly.
"""

from celery import current_app
from django.db import transaction


def enqueue_on_commit(task_name: str, *args) -> None:
    """Send ``task_name(*args)`` once the current transaction commits (never on
    rollback)."""
    transaction.on_commit(lambda: current_app.tasks[task_name].delay(*args))
