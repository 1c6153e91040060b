"""Who is asking: one answer for HTTP requests and WebSocket connections."""

from dataclasses import dataclass

from django.contrib.auth.models import AnonymousUser
from graphql_jwt.exceptions import JSONWebTokenError, JSONWebTokenExpired
from graphql_jwt.shortcuts import get_user_by_token
from graphql_jwt.utils import get_payload

BEARER = "bearer"


@dataclass(frozen=True)
class Authentication:
    """The user behind a request, and why a presented token was refused."""

    user: object
    error: str | None = None

    @property
    def is_authenticated(self) -> bool:
        return bool(self.user.is_authenticated)


def anonymous(error: str | None = None) -> Authentication:
    return Authentication(AnonymousUser(), error)


def authenticate_bearer(authorization: str | None) -> Authentication:
    """The user an ``Authorization: Bearer <access token>`` value names.

    No value is an anonymous request. A malformed, tampered or expired token, or one
    of a deleted or disabled user, is anonymous too, with ``error`` saying why:
    public fields still answer, fields that need a user refuse with that reason.
    """
    if not authorization or not authorization.strip():
        return anonymous()
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != BEARER or not token or " " in token:
        return anonymous("The Authorization header must be 'Bearer <token>'.")
    try:
        user = get_user_by_token(token)
    except JSONWebTokenExpired:
        return anonymous("The access token has expired: refresh it.")
    except JSONWebTokenError:
        return anonymous("The access token is invalid.")
    if user is None:
        return anonymous("The access token is invalid.")
    return Authentication(user)


def access_token_expiry(authorization: str) -> float:
    """When the access token of a valid ``Bearer <token>`` value expires (a Unix
    time)."""
    token = authorization.strip().partition(" ")[2].strip()
    return float(get_payload(token)["exp"])


def active_user(user_id: int):
    """The user ``user_id`` if it still exists and is active, else None."""
    from shop.accounts.models import User

    return User.objects.filter(pk=user_id, is_active=True).first()
