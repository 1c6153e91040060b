"""The one way domain errors become GraphQL errors.

Mutations return them as data (``errors: [UserError!]!``); queries, which have no
payload, raise them as top-level errors with ``extensions.code``.
"""

import strawberry
from graphql import GraphQLError

from shop.core.errors import DomainError
from shop.core.errors import ErrorCode as DomainErrorCode

ErrorCode = strawberry.enum(
    DomainErrorCode, name="ErrorCode", description="What went wrong, for programs."
)


@strawberry.type(description="A business error: what to show next to which input.")
class UserError:
    field: str | None = strawberry.field(
        description="The input field at fault, as the client named it; null if none."
    )
    code: ErrorCode = strawberry.field(description="A stable code to branch on.")
    message: str = strawberry.field(description="A sentence for a person.")


def user_errors(error: DomainError) -> list[UserError]:
    """The payload errors for a domain error (which may carry several)."""
    return [
        UserError(field=e.field, code=ErrorCode(e.code), message=e.message)
        for e in error.errors
    ]


def graphql_error(error: DomainError) -> GraphQLError:
    """A top-level GraphQL error for a domain error raised while reading."""
    extensions = {"code": str(error.code)}
    if error.field:
        extensions["field"] = error.field
    return GraphQLError(error.message, extensions=extensions)
