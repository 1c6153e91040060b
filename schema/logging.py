"""How GraphQL errors reach the log, the request id in the answer, and the
GRAPHQL_INTROSPECTION setting.

strawberry's ``Schema.process_errors`` logs every error at ERROR with its
traceback, and ``str(error)`` quotes the document around it: inline tokens and
passwords included. ``ShopSchema`` logs each error once, never the document or the
variables:

- a client error (any code but INTERNAL_SERVER_ERROR): one INFO line, no traceback,
  values the client sent replaced by ``<value>``;
- a service that cannot be reached (Redis, PostgreSQL...): one ERROR line per
  request and service, no traceback (see shop.core.logs.DependencyOutageFilter);
- anything else: one ERROR line with the traceback.
"""

import logging
import re
import uuid

import strawberry
from django.conf import settings
from graphql import GraphQLError
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import AddValidationRules, SchemaExtension
from strawberry.types import ExecutionContext

from schema.cart.resolvers import SERVICE_UNAVAILABLE
from schema.extensions import INTERNAL, error_code
from schema.fast_fields import LeafMiddlewareManager
from schema.metrics import OperationMetrics
from schema.plans import PlanExecutionContext
from shop.core.logs import (
    LogScope,
    current_scope,
    dependency_down,
    enter_scope,
    exit_scope,
    outage_text,
)

logger = logging.getLogger("shop.graphql")

_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,99}")

# Where graphql-core's messages quote what the client sent: "..., found <value>",
# "got invalid value <value>; ...", "non-integer value: <value>", "Unexpected Name
# 'x'", "Value 'x' does not exist", "cannot represent 'x'".
_QUOTED = r"""(?:"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')"""
_ECHOED_VALUE = re.compile(
    rf"(?P<lead>, found|got invalid value|has invalid value|value:|Unexpected)"
    rf"(?P<echo>(?:{_QUOTED}|[^;])*)"
    rf"|(?P<lead2>\bValue|cannot represent) (?P<echo2>{_QUOTED})"
)


def _without_values(message: str) -> str:
    """``message`` with the values the client sent replaced by <value>."""

    def replace(match: re.Match) -> str:
        if match.group("lead"):
            return f"{match.group('lead')} <value>"
        return f"{match.group('lead2')} <value>"

    return _ECHOED_VALUE.sub(replace, message)


def operation_name(execution_context: ExecutionContext | None) -> str | None:
    """The operation's name if it is a GraphQL name (the client chose it)."""
    try:
        name = execution_context.operation_name if execution_context else None
    except Exception:  # a document that did not parse
        return None
    return name if name and _NAME.fullmatch(name) else None


def _field_path(error: GraphQLError) -> str | None:
    return ".".join(str(part) for part in error.path) if error.path else None


def log_error(error: GraphQLError, execution_context: ExecutionContext | None) -> None:
    """Log one GraphQL error the shop's way (see the module's docstring)."""
    code = error_code(error)
    scope = current_scope()
    if scope is not None:
        scope.error_codes.append(code)
    where = _field_path(error)
    extra = {
        "code": code,
        "field_path": where,
        "operation": operation_name(execution_context),
    }
    at = f" at {where}" if where else ""
    down = dependency_down(error.original_error)
    if down is not None:
        dependency, cause = down
        logger.error(
            "GraphQL %s%s - %s",
            code,
            at,
            outage_text(dependency, cause),
            extra={**extra, "dependency": dependency},
        )
    elif code == INTERNAL:
        logger.error(
            "GraphQL %s%s - %s",
            code,
            at,
            error.message,
            exc_info=error.original_error or None,
            extra=extra,
        )
    else:
        logger.info(
            "GraphQL %s%s - %s", code, at, _without_values(error.message), extra=extra
        )


class ShopSchema(strawberry.Schema):
    """strawberry's Schema, logging errors as the shop does (see the module), and
    counting operations for /metrics (schema.metrics)."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs["extensions"] = [*kwargs.get("extensions", ()), OperationMetrics]
        kwargs.setdefault("execution_context_class", PlanExecutionContext)
        super().__init__(*args, **kwargs)

    def _get_middleware_manager(self, extensions):
        """The extensions' resolve hooks around every field except the plain ones
        (schema.fast_fields)."""
        return LeafMiddlewareManager(
            *(ext for ext in extensions if ext._implements_resolve())
        )

    def process_errors(
        self,
        errors: list[GraphQLError],
        execution_context: ExecutionContext | None = None,
    ) -> None:
        for error in errors:
            log_error(error, execution_context)


ASKS_FOR_REQUEST_ID = (INTERNAL, SERVICE_UNAVAILABLE)


def with_request_id(errors: list[dict], request_id: str | None) -> list[dict]:
    """Gives each INTERNAL_SERVER_ERROR and SERVICE_UNAVAILABLE error (as sent to
    the client) ``extensions.requestId``: the id of the log lines about it."""
    for error in errors if request_id else ():
        extensions = error.get("extensions")
        if extensions is not None and extensions.get("code") in ASKS_FOR_REQUEST_ID:
            extensions["requestId"] = request_id
    return errors


class RequestIdInErrors(SchemaExtension):
    """Notes the operation's name in the request's log scope; an operation without
    one (over WebSocket) gets a scope and a request id of its own, which its
    INTERNAL_SERVER_ERROR and SERVICE_UNAVAILABLE errors carry in
    ``extensions.requestId`` (over HTTP, ShopGraphQLView adds it).

    List it after ErrorCodes: a streamed result reaches it with its codes.
    """

    def on_operation(self):
        scope = current_scope()
        token = None
        if scope is None:
            scope = LogScope(request_id=uuid.uuid4().hex)
            token = enter_scope(scope)
        self.request_id = scope.request_id
        try:
            yield
            scope.operation = operation_name(self.execution_context) or scope.operation
        finally:
            if token is not None:
                exit_scope(token)

    def on_stream_result(self, result):
        for error in getattr(result, "errors", None) or []:
            code = (error.extensions or {}).get("code")
            if code in ASKS_FOR_REQUEST_ID:
                error.extensions["requestId"] = self.request_id
        yield


class IntrospectionSetting(AddValidationRules):
    """With GRAPHQL_INTROSPECTION off, ``__schema`` and ``__type`` are refused
    (GRAPHQL_VALIDATION_FAILED); ``__typename`` still answers."""

    def __init__(self) -> None:
        off = not settings.GRAPHQL_INTROSPECTION
        super().__init__([NoSchemaIntrospectionCustomRule] if off else [])
