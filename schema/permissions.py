"""Who may resolve a field, declared once and used as field extensions:
``strawberry.field(permission_classes=[IsAuthenticated])``.

Refusals are top-level errors with ``extensions.code`` UNAUTHENTICATED (no valid
access token; the message says what was wrong with the one sent) or FORBIDDEN.
Permission instances are shared by all requests, so the per-request message is
raised, never stored on ``self``.
"""

from typing import Any

from graphql import GraphQLError
from strawberry.permission import BasePermission
from strawberry.types import Info

from schema.context import current_auth

UNAUTHENTICATED = "UNAUTHENTICATED"
FORBIDDEN = "FORBIDDEN"
SIGN_IN = "Sign in first: send 'Authorization: Bearer <access token>'."


def signed_in_user(info: Info):
    """The request's user; a top-level UNAUTHENTICATED error when anonymous."""
    auth = current_auth(info)
    if not auth.is_authenticated:
        raise GraphQLError(auth.error or SIGN_IN, extensions={"code": UNAUTHENTICATED})
    return auth.user


class IsAuthenticated(BasePermission):
    """A signed-in user: a valid, unexpired access token."""

    message = SIGN_IN
    error_extensions = {"code": UNAUTHENTICATED}

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return signed_in_user(info) is not None


class IsStaff(BasePermission):
    """A signed-in member of staff."""

    message = "Only staff may do this."
    error_extensions = {"code": FORBIDDEN}

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return bool(signed_in_user(info).is_staff)
