"""Error reporting to Sentry, on when SENTRY_DSN is set (settings call ``init``).

What is reported: unexpected exceptions only.
- Django: an exception a view lets through (the answer is a 500).
- Celery: a task that fails (retries are not failures).
- GraphQL: an INTERNAL_SERVER_ERROR, from the shop.graphql ERROR line that logs it
  with the original exception and traceback (schema.logging), over HTTP and
  WebSocket alike; and any other ERROR log line (an outage of Redis or PostgreSQL
  is one such line per request).

Not reported: business errors. UserError payloads are data, never errors; GraphQL
errors a client caused (a bad document, UNAUTHENTICATED, NOT_FOUND...) are INFO
lines. strawberry's integration would also report every error of an HTTP answer
as masked, client errors included: those events are dropped here (the shop.graphql
line already reports the unexpected ones, with their real exception).

No personal data: no request bodies (GraphQL variables carry passwords, addresses
and tokens), no cookies, headers or user details (send_default_pii off), and
secrets-looking keys scrubbed at any depth. Events carry the request id (the
X-Request-ID a client quotes to support) and the Celery task id as tags.

Imports the integrations (and so strawberry) only when called: the shop's code
never depends on the GraphQL layer.
"""

from typing import Any

from shop.core.logs import current_scope

STRAWBERRY_MECHANISM = "strawberry"


def _mechanisms(event: dict[str, Any]) -> set[str]:
    values = (event.get("exception") or {}).get("values") or []
    return {(value.get("mechanism") or {}).get("type") for value in values}


def before_send(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any] | None:
    """Drops strawberry's per-error events (see the module); tags the rest with
    the request and task ids."""
    if STRAWBERRY_MECHANISM in _mechanisms(event):
        return None
    scope = current_scope()
    if scope is not None:
        tags = event.setdefault("tags", {})
        tags.setdefault("request_id", scope.request_id)
        if scope.task_id:
            tags.setdefault("task_id", scope.task_id)
    return event


def init(
    *,
    dsn: str,
    environment: str,
    release: str | None,
    traces_sample_rate: float,
) -> None:
    """Start reporting to ``dsn`` with the Django, Celery and strawberry
    integrations."""
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration
    from sentry_sdk.integrations.strawberry import StrawberryIntegration
    from sentry_sdk.scrubber import EventScrubber

    sentry_sdk.init(
        dsn=dsn,
        integrations=[
            DjangoIntegration(),
            CeleryIntegration(),
            # The HTTP view is strawberry's synchronous Django view, and the
            # WebSocket consumer runs queries and mutations with execute_sync:
            # the synchronous extension fits both (its hooks also run unchanged
            # around async subscriptions).
            StrawberryIntegration(async_execution=False),
        ],
        environment=environment,
        release=release or None,
        traces_sample_rate=traces_sample_rate,
        send_default_pii=False,
        max_request_body_size="never",
        event_scrubber=EventScrubber(recursive=True),
        before_send=before_send,
    )
