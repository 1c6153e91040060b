"""Celery's log lines go through the shop's filters and format, and carry the task
id and the request id of the request that enqueued the task."""

from celery.signals import (
    after_setup_logger,
    after_setup_task_logger,
    before_task_publish,
    task_postrun,
    task_prerun,
)
from django.conf import settings

from shop.core.logs import (
    DependencyOutageFilter,
    JsonFormatter,
    LogScope,
    RedactingFilter,
    RequestContextFilter,
    current_scope,
    enter_scope,
    exit_scope,
    sane_request_id,
)

REQUEST_ID_HEADER = "shop_request_id"
_scopes = {}


@before_task_publish.connect
def _carry_request_id(headers=None, **kwargs) -> None:
    scope = current_scope()
    if scope is not None and headers is not None:
        headers.setdefault(REQUEST_ID_HEADER, scope.request_id)


@task_prerun.connect
def _enter_task(task_id=None, task=None, **kwargs) -> None:
    enqueued_by = sane_request_id(getattr(task.request, REQUEST_ID_HEADER, None))
    around = current_scope()  # an eager task runs inside the request
    request_id = enqueued_by or (around.request_id if around else task_id)
    _scopes[task_id] = enter_scope(LogScope(request_id=request_id, task_id=task_id))


@task_postrun.connect
def _exit_task(task_id=None, **kwargs) -> None:
    token = _scopes.pop(task_id, None)
    if token is not None:
        exit_scope(token)


@after_setup_logger.connect
@after_setup_task_logger.connect
def _shop_logging(logger=None, **kwargs) -> None:
    """The worker's handlers (Celery replaces the root logger's) get the filters of
    settings.LOGGING, and the JSON format when DJANGO_LOG_FORMAT is json."""
    for handler in logger.handlers:
        for kind in (RequestContextFilter, DependencyOutageFilter, RedactingFilter):
            if not any(isinstance(f, kind) for f in handler.filters):
                handler.addFilter(kind())
        if settings.LOG_FORMAT == "json":
            handler.setFormatter(JsonFormatter())
