"""The request line: one log line per HTTP request, and its request id."""

import logging
import time

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponseBase
from django.utils.functional import empty

from shop.core.logs import (
    REQUEST_ID_HEADER,
    LogScope,
    enter_scope,
    exit_scope,
    request_id_from,
)

logger = logging.getLogger("shop.request")


def _evaluated(lazy):
    """What a lazy request attribute holds if something already asked for it:
    logging must not cost a query (or fail because the database is down)."""
    wrapped = getattr(lazy, "_wrapped", lazy)
    return None if wrapped is empty else wrapped


def _user_id(request: HttpRequest) -> int | None:
    bearer = _evaluated(request.__dict__.get("bearer"))
    session_user = _evaluated(request.__dict__.get("user"))
    for user in (getattr(bearer, "user", None), session_user):
        if user is not None and getattr(user, "is_authenticated", False):
            return user.pk
    return None


class RequestLogMiddleware:
    """One line per HTTP request (GraphQL, the Stripe webhook, the admin...):
    request id, method, path, GraphQL operation, status, duration, user id.

    The request id is the client's ``X-Request-ID`` when sane (see
    ``shop.core.logs.sane_request_id``), a new one otherwise; it is returned in
    ``X-Request-ID`` on every response and stamped on every log record written
    while the request is served. The path goes without its query string, where a
    GET request carries its GraphQL document.
    """

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        scope = LogScope(
            request_id=request_id_from(request.headers.get("X-Request-ID"))
        )
        request.request_id = scope.request_id
        token = enter_scope(scope)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response[REQUEST_ID_HEADER] = scope.request_id
            duration_ms = round((time.perf_counter() - started) * 1000, 1)
            path = request.path[:200]
            operation = f" {scope.operation}" if scope.operation else ""
            logger.info(
                "%s %s%s %s %sms",
                request.method,
                path,
                operation,
                response.status_code,
                duration_ms,
                extra={
                    "method": request.method,
                    "path": path,
                    "operation": scope.operation,
                    "status": response.status_code,
                    "duration_ms": duration_ms,
                    "user_id": _user_id(request),
                    "errors": scope.error_codes or None,
                    "dependencies_down": sorted(scope.dependencies_down) or None,
                },
            )
            return response
        finally:
            exit_scope(token)


class AsyncFileStreamsMiddleware:
    """Serves a file response (WhiteNoise's static files) to an ASGI server chunk
    by chunk from a thread, instead of letting Django warn ("StreamingHttpResponse
    must consume synchronous iterators") and read the whole file into memory in
    one go. Place it just before WhiteNoiseMiddleware. Under WSGI it does nothing.
    """

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if (
            getattr(response, "streaming", False)
            and not response.is_async
            and isinstance(request, ASGIRequest)
        ):
            response.streaming_content = _chunks_in_a_thread(response.streaming_content)
        return response


async def _chunks_in_a_thread(chunks):
    iterator = iter(chunks)
    read = sync_to_async(next, thread_sensitive=False)
    while (chunk := await read(iterator, None)) is not None:
        yield chunk
