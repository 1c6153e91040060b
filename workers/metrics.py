"""Celery task outcomes for /metrics: each task end (succeeded, failed, retried) is
counted with its duration in Redis (shop.core.metrics), from whichever worker ran
it, so one scrape of the web sees every worker's tasks."""

import time

from celery.signals import task_failure, task_postrun, task_prerun, task_retry
from celery.signals import task_success as task_succeeded
from django.conf import settings

from shop.core.metrics import task_outcome_record

_started: dict[str, float] = {}


@task_prerun.connect
def _start_clock(task_id=None, **kwargs) -> None:
    if settings.METRICS_ENABLED and task_id is not None:
        _started[task_id] = time.perf_counter()


def _record(task, task_id: str | None, state: str) -> None:
    started = _started.pop(task_id, None) if task_id is not None else None
    if not settings.METRICS_ENABLED or task is None:
        return
    seconds = None if started is None else time.perf_counter() - started
    task_outcome_record(task=task.name, state=state, seconds=seconds)


@task_succeeded.connect
def _succeeded(sender=None, **kwargs) -> None:
    _record(sender, getattr(sender.request, "id", None), "succeeded")


@task_failure.connect
def _failed(sender=None, task_id=None, **kwargs) -> None:
    _record(sender, task_id, "failed")


@task_retry.connect
def _retried(sender=None, request=None, **kwargs) -> None:
    _record(sender, getattr(request, "id", None), "retried")


@task_postrun.connect
def _forget_clock(task_id=None, **kwargs) -> None:
    # A task that ended another way (revoked, ignored) leaves no clock behind.
    _started.pop(task_id, None)
