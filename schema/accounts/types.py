"""Account types and payloads."""

from datetime import datetime

import strawberry
import strawberry_django
from django.db.models import QuerySet
from strawberry import relay
from strawberry.types import Info
from strawberry_django.relay import DjangoCursorConnection

from schema.connections import ConnectionField
from schema.context import current_user
from schema.errors import UserError
from schema.orders.types import OrderType
from schema.reviews.types import ReviewType
from shop.accounts.models import User
from shop.accounts.selectors import user_list


@strawberry_django.type(User, name="User", description="A signed-in buyer or staff.")
class UserType(relay.Node):
    email: strawberry.auto
    is_staff: bool = strawberry_django.field(
        description="Whether the user can use the admin and see unpublished items."
    )
    date_joined: datetime = strawberry_django.field(
        description="When the account was created."
    )
    first_name: str = strawberry_django.field(description="Set with accountUpdate.")
    last_name: str = strawberry_django.field(description="Set with accountUpdate.")

    @strawberry_django.field(
        only=["first_name", "last_name"],
        description='How others see you, on reviews: "Ada L."; "Customer" without '
        "a first name.",
    )
    def public_name(self, root: User) -> str:
        return root.public_name

    orders: DjangoCursorConnection[OrderType] = strawberry_django.connection(
        field_cls=ConnectionField, description="Their orders, newest first."
    )
    reviews: DjangoCursorConnection[ReviewType] = strawberry_django.connection(
        field_cls=ConnectionField,
        description="Their reviews, newest first, hidden ones included.",
    )

    @classmethod
    def get_queryset(cls, queryset: QuerySet, info: Info, **kwargs) -> QuerySet:
        return user_list(user=current_user(info), users=queryset)


@strawberry.type(description="The result of accountUpdate.")
class AccountUpdatePayload:
    user: UserType | None = strawberry.field(
        default=None, description="The user as saved; null on errors."
    )
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why nothing changed."
    )


@strawberry.type(description="The result of register.")
class RegisterPayload:
    user: UserType | None = strawberry.field(
        default=None, description="The new account; null on errors."
    )
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why nothing was created."
    )


@strawberry.type(description="A token pair: send token as 'Authorization: Bearer'.")
class TokenPayload:
    token: str | None = strawberry.field(
        default=None, description="The access token (a JWT); short-lived."
    )
    refresh_token: str | None = strawberry.field(
        default=None,
        description="Trade it once for a new pair with refreshToken; long-lived.",
    )
    expires_at: datetime | None = strawberry.field(
        default=None, description="When the access token stops working."
    )
    refresh_expires_at: datetime | None = strawberry.field(
        default=None, description="When the refresh token stops working."
    )
    user: UserType | None = strawberry.field(default=None, description="Who signed in.")
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why no token was issued."
    )


@strawberry.type(description="The result of verifyToken.")
class VerifyPayload:
    valid: bool = strawberry.field(description="Whether the access token works now.")
    email: str | None = strawberry.field(
        default=None, description="Whose token it is, when valid."
    )
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why the token is not valid."
    )


@strawberry.type(description="The result of revokeToken.")
class RevokePayload:
    revoked: bool = strawberry.field(description="Whether a token was revoked.")
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why nothing was revoked."
    )


@strawberry.type(description="The result of passwordChange.")
class PasswordChangePayload:
    user: UserType | None = strawberry.field(
        default=None, description="The user, whose other sessions are signed out."
    )
    token: str | None = strawberry.field(
        default=None, description="This session's new access token."
    )
    refresh_token: str | None = strawberry.field(
        default=None,
        description="This session's new refresh token (the old one is revoked).",
    )
    expires_at: datetime | None = strawberry.field(
        default=None, description="When the new access token stops working."
    )
    refresh_expires_at: datetime | None = strawberry.field(
        default=None, description="When the new refresh token stops working."
    )
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why the password was not changed."
    )
