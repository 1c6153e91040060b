"""Account writes: registration, token pairs, password changes.

One rule for refresh tokens: every path that issues or revokes a user's refresh
tokens first locks that user's row (``_user_locked``), in its own transaction. A
sign-out everywhere and a rotation then run one after the other: the revoking
UPDATE sees the token a rotation inserted, or the rotation finds its token revoked.
Without the lock, the UPDATE's snapshot missed a token inserted by a rotation still
in flight, and that token stayed alive for 30 days.
"""

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import authenticate
from django.contrib.auth.models import update_last_login
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models.functions import Lower
from django.dispatch import receiver
from django.utils import timezone
from graphql_jwt.exceptions import JSONWebTokenError, JSONWebTokenExpired
from graphql_jwt.refresh_token.models import RefreshToken
from graphql_jwt.settings import jwt_settings
from graphql_jwt.shortcuts import create_refresh_token, get_token
from graphql_jwt.utils import get_payload, get_user_by_payload

from shop.accounts.errors import AccountError, ErrorCode
from shop.accounts.models import User, password_saved_signal
from shop.accounts.throttle import (
    login_attempt_abandoned,
    login_attempt_begin,
    login_attempt_succeeded,
    registration_attempt,
)
from shop.core.errors import email_checked

INVALID_CREDENTIALS = "The email or the password is wrong."
INVALID_REFRESH_TOKEN = "The refresh token is unknown, used, revoked or expired."


@dataclass(frozen=True)
class TokenPair:
    """A signed-in session: a short access token and a long refresh token."""

    user: User
    token: str
    refresh_token: str
    expires_at: datetime
    refresh_expires_at: datetime


def _password_checked(password: str, user: User) -> None:
    try:
        validate_password(password, user=user)
    except ValidationError as error:
        raise AccountError(
            ErrorCode.INVALID, " ".join(error.messages), field="password"
        ) from error


def user_register(*, email: str, password: str, client_ip: str | None = None) -> User:
    """Create a buyer's account. The email is stored lower-cased.

    Raises AccountError: THROTTLED (more than REGISTRATIONS_PER_IP attempts from
    ``client_ip`` in the window; nothing is checked or created), REQUIRED /
    INVALID (email), ALREADY_EXISTS (email taken, in any case), INVALID (password
    refused by the validators, their messages joined).
    """
    registration_attempt(client_ip=client_ip)
    email = email_checked(email, AccountError)
    user = User(email=email)
    problems = []
    if (
        User.objects.alias(email_lower=Lower("email"))
        .filter(email_lower=email)
        .exists()
    ):
        problems.append(_taken())
    try:
        _password_checked(password, user)
    except AccountError as error:
        problems.append(error)
    AccountError.raise_any(problems)
    user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError as error:  # a concurrent registration won the race
        raise _taken() from error
    return user


def _taken() -> AccountError:
    return AccountError(
        ErrorCode.ALREADY_EXISTS,
        "An account with this email already exists.",
        field="email",
    )


def _user_locked(user_id: int) -> User | None:
    """The user's row, locked until the transaction ends (see the module's rule).

    FOR NO KEY UPDATE: it excludes the other token paths and password changes,
    not inserts that merely reference the user (orders, carts).
    """
    return User.objects.select_for_update(no_key=True).filter(pk=user_id).first()


def _token_pair(user: User) -> TokenPair:
    refresh = create_refresh_token(user)
    now = timezone.now()
    return TokenPair(
        user=user,
        token=get_token(user),
        refresh_token=refresh.get_token(),
        expires_at=now + jwt_settings.JWT_EXPIRATION_DELTA,
        refresh_expires_at=refresh.created + jwt_settings.JWT_REFRESH_EXPIRATION_DELTA,
    )


def token_obtain(*, email: str, password: str, client_ip: str | None) -> TokenPair:
    """Sign in: check the password and issue an access and a refresh token.

    A wrong email and a wrong password get the same INVALID_CREDENTIALS. Failures
    are counted per email and per client IP; past the limit the answer is THROTTLED
    (with the wait) until the window ends. The attempt is counted before the
    password is checked, in the same atomic step as the limit's check: racing
    requests get at most the limit of password checks. A success resets the email's
    counter (and does not count against the IP).
    """
    email = User.objects.normalize_email(email)
    login_attempt_begin(email=email, client_ip=client_ip)
    try:
        user = authenticate(username=email, password=password) if email else None
    except Exception:
        login_attempt_abandoned(email=email, client_ip=client_ip)
        raise
    if user is None:
        raise AccountError(ErrorCode.INVALID_CREDENTIALS, INVALID_CREDENTIALS)
    login_attempt_succeeded(email=email, client_ip=client_ip)
    with transaction.atomic():
        locked = _user_locked(user.pk)
        # A password change or a deactivation committed since the check above
        # revoked the user's tokens; this one must not outlive it. (A differing
        # hash may also be a concurrent sign-in's rehash: check the password again.)
        if (
            locked is None
            or not locked.is_active
            or (
                locked.password != user.password and not locked.check_password(password)
            )
        ):
            raise AccountError(ErrorCode.INVALID_CREDENTIALS, INVALID_CREDENTIALS)
        update_last_login(None, locked)
        return _token_pair(locked)


@transaction.atomic
def token_refresh(*, refresh_token: str) -> TokenPair:
    """Rotate a refresh token: revoke it and issue a new pair, in one transaction.

    The user's row is locked first, then the token is read again: two requests
    racing with one token get one new pair between them, and a sign-out everywhere
    or a password change either waits for the rotation (and revokes the new token)
    or makes it fail. A used, revoked, expired or unknown token is INVALID_TOKEN.
    """
    active = RefreshToken.objects.filter(token=refresh_token, revoked__isnull=True)
    user_id = active.values_list("user_id", flat=True).first()
    user = _user_locked(user_id) if user_id is not None else None
    stored = (
        active.select_for_update().filter(user=user).first()
        if user is not None
        else None
    )
    if stored is None or stored.is_expired() or not user.is_active:
        raise AccountError(
            ErrorCode.INVALID_TOKEN, INVALID_REFRESH_TOKEN, field="refreshToken"
        )
    stored.revoked = timezone.now()
    stored.save(update_fields=["revoked"])
    return _token_pair(user)


def token_verify(*, token: str) -> User:
    """The user of a valid access token; INVALID_TOKEN (saying why) otherwise."""
    try:
        user = get_user_by_payload(get_payload(token))
    except JSONWebTokenExpired as error:
        raise AccountError(
            ErrorCode.INVALID_TOKEN, "The token has expired.", field="token"
        ) from error
    except JSONWebTokenError as error:
        raise AccountError(
            ErrorCode.INVALID_TOKEN, "The token is invalid.", field="token"
        ) from error
    if user is None:
        raise AccountError(
            ErrorCode.INVALID_TOKEN, "The token is invalid.", field="token"
        )
    return user


@transaction.atomic
def token_revoke(*, refresh_token: str) -> None:
    """Revoke a refresh token (sign out); INVALID_TOKEN if it is not active."""
    active = RefreshToken.objects.filter(token=refresh_token, revoked__isnull=True)
    user_id = active.values_list("user_id", flat=True).first()
    revoked = 0
    if user_id is not None and _user_locked(user_id) is not None:
        revoked = active.update(revoked=timezone.now())
    if not revoked:
        raise AccountError(
            ErrorCode.INVALID_TOKEN, INVALID_REFRESH_TOKEN, field="refreshToken"
        )


@transaction.atomic
def refresh_tokens_revoke(*, ids: Collection[int]) -> int:
    """Revoke the chosen refresh tokens (the admin's action); how many were active.

    Their users' rows are locked first, in primary-key order.
    """
    active = RefreshToken.objects.filter(pk__in=list(ids), revoked__isnull=True)
    user_ids = sorted(set(active.values_list("user_id", flat=True)))
    locked = User.objects.select_for_update(no_key=True).filter(pk__in=user_ids)
    list(locked.order_by("pk").values_list("pk", flat=True))
    return active.update(revoked=timezone.now())


@transaction.atomic
def user_refresh_tokens_revoke(*, user: User) -> int:
    """Sign a user out everywhere: revoke every active refresh token; how many."""
    _user_locked(user.pk)
    return RefreshToken.objects.filter(user_id=user.pk, revoked__isnull=True).update(
        revoked=timezone.now()
    )


@receiver(password_saved_signal, dispatch_uid="shop.accounts.signed_out_everywhere")
def _password_saved(sender, user: User, **kwargs) -> None:
    """A new password signs the user out everywhere, whatever saved it: connected
    when the app starts (AccountsConfig.ready imports this module)."""
    user_refresh_tokens_revoke(user=user)


@transaction.atomic
def user_password_change(
    *, user: User, current_password: str, new_password: str
) -> User:
    """Change a signed-in user's password and sign out their other sessions.

    INVALID_CREDENTIALS if the current password is wrong; INVALID with the
    validators' messages if the new one is refused. Changes nothing on failure.
    The user's row is locked first, so the check reads the password a concurrent
    change left, and the revocation serializes with refreshes.
    """
    locked = _user_locked(user.pk)
    if locked is None:
        raise AccountError(ErrorCode.NOT_FOUND, "The account no longer exists.")
    user = locked
    if not user.check_password(current_password):
        raise AccountError(
            ErrorCode.INVALID_CREDENTIALS,
            "The current password is wrong.",
            field="currentPassword",
        )
    try:
        _password_checked(new_password, user)
    except AccountError as error:
        error.field = "newPassword"
        raise
    user.set_password(new_password)
    user.save(update_fields=["password"])  # which revokes the refresh tokens
    return user


@transaction.atomic
def user_password_change_signed_in(
    *, user: User, current_password: str, new_password: str
) -> TokenPair:
    """``user_password_change`` for the session asking: every refresh token is
    revoked (every session signed out), and this session gets a new pair in the
    same transaction, so the caller stays signed in and the others do not."""
    changed = user_password_change(
        user=user, current_password=current_password, new_password=new_password
    )
    return _token_pair(changed)


NAME_MAX_LENGTH = 150  # User.first_name / last_name


def user_name_change(
    *, user: User, first_name: str | None = None, last_name: str | None = None
) -> User:
    """Set the names others see (a review shows "Ada L."); None leaves one as it
    is, "" clears it. INVALID (field firstName / lastName) for a name over 150
    characters."""
    names = {"first_name": first_name, "last_name": last_name}
    changes, problems = {}, []
    for name, value in names.items():
        if value is None:
            continue
        value = " ".join(value.split())  # no line breaks or runs of spaces
        if len(value) > NAME_MAX_LENGTH:
            field = "firstName" if name == "first_name" else "lastName"
            problems.append(
                AccountError(
                    ErrorCode.INVALID,
                    f"Keep it to {NAME_MAX_LENGTH} characters.",
                    field=field,
                )
            )
        changes[name] = value
    AccountError.raise_any(problems)
    if changes:
        User.objects.filter(pk=user.pk).update(**changes)
        for name, value in changes.items():
            setattr(user, name, value)
    return user
