"""Sign-up, sign-in and token management."""

import strawberry
from graphql import GraphQLError
from strawberry.types import Info

from schema.accounts.types import (
    AccountUpdatePayload,
    PasswordChangePayload,
    RegisterPayload,
    RevokePayload,
    TokenPayload,
    VerifyPayload,
)
from schema.context import client_ip, current_user
from schema.errors import user_errors
from schema.permissions import IsAuthenticated
from shop.accounts import services
from shop.accounts.errors import AccountError, ThrottleUnavailable


def _token_payload(pair: services.TokenPair) -> TokenPayload:
    return TokenPayload(
        token=pair.token,
        refresh_token=pair.refresh_token,
        expires_at=pair.expires_at,
        refresh_expires_at=pair.refresh_expires_at,
        user=pair.user,
    )


def throttle_unavailable(error: ThrottleUnavailable) -> GraphQLError:
    """Sign-ins and registrations refused while their throttle cannot count them
    (THROTTLE_FAIL_OPEN off)."""
    return GraphQLError(
        "Signing in and registering are unavailable right now; try again shortly.",
        extensions={"code": "SERVICE_UNAVAILABLE"},
        original_error=error,
    )


@strawberry.type
class AccountMutation:
    @strawberry.mutation(
        description="Create a buyer's account (then tokenAuth). Attempts are "
        "throttled per client IP."
    )
    def register(self, info: Info, email: str, password: str) -> RegisterPayload:
        try:
            user = services.user_register(
                email=email, password=password, client_ip=client_ip(info)
            )
        except AccountError as error:
            return RegisterPayload(errors=user_errors(error))
        except ThrottleUnavailable as error:
            raise throttle_unavailable(error) from error
        return RegisterPayload(user=user)

    @strawberry.mutation(
        description="Sign in: an access token (Authorization: Bearer) and a "
        "refresh token. Repeated failures are throttled."
    )
    def token_auth(self, info: Info, email: str, password: str) -> TokenPayload:
        try:
            pair = services.token_obtain(
                email=email, password=password, client_ip=client_ip(info)
            )
        except AccountError as error:
            return TokenPayload(errors=user_errors(error))
        except ThrottleUnavailable as error:
            raise throttle_unavailable(error) from error
        return _token_payload(pair)

    @strawberry.mutation(
        description="Trade a refresh token for a new pair; the old one stops working."
    )
    def refresh_token(self, refresh_token: str) -> TokenPayload:
        try:
            pair = services.token_refresh(refresh_token=refresh_token)
        except AccountError as error:
            return TokenPayload(errors=user_errors(error))
        return _token_payload(pair)

    @strawberry.mutation(description="Whether an access token works now, and whose.")
    def verify_token(self, token: str) -> VerifyPayload:
        try:
            user = services.token_verify(token=token)
        except AccountError as error:
            return VerifyPayload(valid=False, errors=user_errors(error))
        return VerifyPayload(valid=True, email=user.email)

    @strawberry.mutation(description="Revoke a refresh token: sign out that session.")
    def revoke_token(self, refresh_token: str) -> RevokePayload:
        try:
            services.token_revoke(refresh_token=refresh_token)
        except AccountError as error:
            return RevokePayload(revoked=False, errors=user_errors(error))
        return RevokePayload(revoked=True)

    @strawberry.mutation(
        description="Set the signed-in user's names, which others see as "
        '"Ada L." on reviews. Omit one to keep it; "" clears it.',
        permission_classes=[IsAuthenticated],
    )
    def account_update(
        self,
        info: Info,
        first_name: str | None = None,
        last_name: str | None = None,
    ) -> AccountUpdatePayload:
        try:
            user = services.user_name_change(
                user=current_user(info), first_name=first_name, last_name=last_name
            )
        except AccountError as error:
            return AccountUpdatePayload(errors=user_errors(error))
        return AccountUpdatePayload(user=user)

    @strawberry.mutation(
        description="Change the signed-in user's password: every other session is "
        "signed out (their refresh tokens revoked, their access tokens expire within "
        "minutes); this one gets a new token pair, to use from now on.",
        permission_classes=[IsAuthenticated],
    )
    def password_change(
        self, info: Info, current_password: str, new_password: str
    ) -> PasswordChangePayload:
        try:
            pair = services.user_password_change_signed_in(
                user=current_user(info),
                current_password=current_password,
                new_password=new_password,
            )
        except AccountError as error:
            return PasswordChangePayload(errors=user_errors(error))
        return PasswordChangePayload(
            user=pair.user,
            token=pair.token,
            refresh_token=pair.refresh_token,
            expires_at=pair.expires_at,
            refresh_expires_at=pair.refresh_expires_at,
        )
