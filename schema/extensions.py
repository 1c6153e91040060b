"""Every top-level error carries ``extensions.code``; unexpected ones are masked."""

from django.conf import settings
from graphql.error import GraphQLError
from strawberry.extensions import MaskErrors
from strawberry.relay.types import GlobalIDValueError

from shop.core.errors import ErrorCode

PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
INTERNAL = "INTERNAL_SERVER_ERROR"


def error_code(error: GraphQLError) -> str:
    """The code a client branches on, for an error raised anywhere."""
    if error.extensions and "code" in error.extensions:
        return error.extensions["code"]
    original = error.original_error
    if original is None:
        if error.message.startswith("Syntax Error"):
            return PARSE_FAILED
        return VALIDATION_FAILED
    if isinstance(original, GraphQLError):
        return error_code(original)
    # Raised by argument checks: a malformed global ID or cursor, first > 100...
    if isinstance(original, ValueError):
        return ErrorCode.INVALID.value
    return INTERNAL


class ErrorCodes(MaskErrors):
    """Adds ``extensions.code`` to every error that lacks one.

    Errors the shop did not expect (a bug, a database outage) become
    INTERNAL_SERVER_ERROR with a generic message, unless DEBUG is on: their text
    could leak internals. They are still logged with the traceback.
    """

    def __init__(self) -> None:
        super().__init__(error_message="Internal server error.")

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        processed = []
        for error in errors:
            code = error_code(error)
            message = error.message
            if code == INTERNAL and not settings.DEBUG:
                error = self.anonymise_error(error)
                message = error.message
            elif isinstance(error.original_error, GlobalIDValueError):
                message = f"Invalid ID: {message}"
            processed.append(
                GraphQLError(
                    message,
                    nodes=error.nodes,
                    source=error.source,
                    positions=error.positions,
                    path=error.path,
                    original_error=error.original_error,
                    extensions={**(error.extensions or {}), "code": code},
                )
            )
        return processed
