"""Issuing and revoking a user's refresh tokens serialize on the user's row:
signing out everywhere, or changing the password, while a refresh is under way
leaves no refresh token alive (real parallel transactions on PostgreSQL)."""

import time

import pytest
from graphql_jwt.refresh_token.models import RefreshToken

from shop.accounts import services
from shop.accounts.errors import ErrorCode
from tests.concurrency import race
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "a long passphrase 1"
NEW_PASSWORD = "another passphrase 2"
ROTATION_SECONDS = 0.4  # how long a slowed rotation keeps its transaction open
LATER = 0.1  # when the other path starts, inside that window


def sign_in(user) -> services.TokenPair:
    return services.token_obtain(email=user.email, password=PASSWORD, client_ip=None)


def active_tokens(user) -> int:
    return RefreshToken.objects.filter(user=user, revoked__isnull=True).count()


def later(task):
    def run():
        time.sleep(LATER)
        return task()

    return run


@pytest.fixture
def slow_rotation(monkeypatch):
    """A refresh that holds its transaction open while it issues the new token,
    so the other path runs while the rotation is in flight."""
    issue = services.create_refresh_token

    def slowly(user):
        time.sleep(ROTATION_SECONDS)
        return issue(user)

    monkeypatch.setattr(services, "create_refresh_token", slowly)


@pytest.mark.usefixtures("slow_rotation")
def test_sign_out_everywhere_during_a_refresh_revokes_the_new_token():
    user = UserFactory(password=PASSWORD)
    session, other_session = sign_in(user), sign_in(user)
    refreshed, revoked = race(
        [
            lambda: services.token_refresh(refresh_token=session.refresh_token),
            later(lambda: services.user_refresh_tokens_revoke(user=user)),
        ]
    )
    assert isinstance(refreshed, services.TokenPair), refreshed
    # the new token of the rotated session, and the other session's
    assert revoked == 2
    assert active_tokens(user) == 0
    assert RefreshToken.objects.filter(user=user).count() == 3
    assert other_session.refresh_token != refreshed.refresh_token


@pytest.mark.usefixtures("slow_rotation")
def test_a_refresh_waiting_behind_sign_out_everywhere_is_refused():
    user = UserFactory(password=PASSWORD)
    session = sign_in(user)

    def revoke_slowly():
        with services.transaction.atomic():
            revoked = services.user_refresh_tokens_revoke(user=user)
            time.sleep(ROTATION_SECONDS)
            return revoked

    revoked, refreshed = race(
        [
            revoke_slowly,
            later(lambda: services.token_refresh(refresh_token=session.refresh_token)),
        ]
    )
    assert revoked == 1
    assert refreshed == ErrorCode.INVALID_TOKEN
    assert active_tokens(user) == 0


@pytest.mark.usefixtures("slow_rotation")
def test_a_password_change_during_a_refresh_revokes_the_new_token():
    user = UserFactory(password=PASSWORD)
    session = sign_in(user)
    refreshed, changed = race(
        [
            lambda: services.token_refresh(refresh_token=session.refresh_token),
            later(
                lambda: services.user_password_change(
                    user=user, current_password=PASSWORD, new_password=NEW_PASSWORD
                )
            ),
        ]
    )
    assert isinstance(refreshed, services.TokenPair), refreshed
    assert changed.check_password(NEW_PASSWORD)
    assert active_tokens(user) == 0


def test_a_sign_in_with_the_old_password_during_a_password_change_is_refused(
    monkeypatch,
):
    user = UserFactory(password=PASSWORD)
    checked = services.login_attempt_succeeded

    def slowly(**kwargs):  # the password was checked; the token is not issued yet
        checked(**kwargs)
        time.sleep(ROTATION_SECONDS)

    monkeypatch.setattr(services, "login_attempt_succeeded", slowly)
    signed_in, changed = race(
        [
            lambda: sign_in(user),
            later(
                lambda: services.user_password_change(
                    user=user, current_password=PASSWORD, new_password=NEW_PASSWORD
                )
            ),
        ]
    )
    assert signed_in == ErrorCode.INVALID_CREDENTIALS
    assert changed.check_password(NEW_PASSWORD)
    assert active_tokens(user) == 0


@pytest.mark.parametrize("attempt", range(4))
def test_sign_out_everywhere_racing_refreshes_leaves_nothing_active(attempt):
    user = UserFactory(password=PASSWORD)
    sessions = [sign_in(user) for _ in range(3)]
    revoked, *refreshed = race(
        [lambda: services.user_refresh_tokens_revoke(user=user)]
        + [
            (lambda token: lambda: services.token_refresh(refresh_token=token))(
                session.refresh_token
            )
            for session in sessions
        ]
    )
    assert all(
        isinstance(outcome, services.TokenPair) or outcome == ErrorCode.INVALID_TOKEN
        for outcome in refreshed
    ), refreshed
    # each rotation replaces one active token: there were always three to revoke
    assert revoked == 3
    assert active_tokens(user) == 0
