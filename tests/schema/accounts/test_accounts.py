"""register, tokenAuth, refreshToken, verifyToken, revokeToken, passwordChange, me."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django_redis import get_redis_connection
from graphql_jwt.refresh_token.models import RefreshToken
from graphql_jwt.shortcuts import get_token
from strawberry.relay import to_base64

from shop.accounts.models import User
from tests.factories import UserFactory

PASSWORD = "a long passphrase 1"

REGISTER = """mutation($email: String!, $password: String!) {
  register(email: $email, password: $password) {
    user { id email isStaff } errors { field code message } } }"""
TOKEN_AUTH = """mutation($email: String!, $password: String!) {
  tokenAuth(email: $email, password: $password) {
    token refreshToken expiresAt refreshExpiresAt user { email }
    errors { field code message } } }"""
REFRESH = """mutation($refreshToken: String!) {
  refreshToken(refreshToken: $refreshToken) {
    token refreshToken user { email } errors { field code message } } }"""
VERIFY = """mutation($token: String!) {
  verifyToken(token: $token) { valid email errors { field code message } } }"""
REVOKE = """mutation($refreshToken: String!) {
  revokeToken(refreshToken: $refreshToken) {
    revoked errors { field code message } } }"""
PASSWORD_CHANGE = """mutation($current: String!, $new: String!) {
  passwordChange(currentPassword: $current, newPassword: $new) {
    user { email } token refreshToken errors { field code message } } }"""
ME = "{ me { id email isStaff } }"


@pytest.fixture
def buyer(db):
    return UserFactory(email="buyer@example.com", password=PASSWORD)


def sign_in(gql, email="buyer@example.com", password=PASSWORD) -> dict:
    return gql.ok(TOKEN_AUTH, {"email": email, "password": password})["tokenAuth"]


def codes(payload: dict) -> list[tuple[str | None, str]]:
    return [(e["field"], e["code"]) for e in payload["errors"]]


# ---------------------------------------------------------------- register


def test_register_creates_a_normalised_account(gql, db):
    payload = gql.ok(
        REGISTER, {"email": " New.Buyer@Example.COM", "password": PASSWORD}
    )
    payload = payload["register"]
    assert payload["errors"] == []
    assert payload["user"]["email"] == "new.buyer@example.com"
    assert payload["user"]["isStaff"] is False
    user = User.objects.get()
    assert user.email == "new.buyer@example.com"
    assert user.check_password(PASSWORD)
    assert payload["user"]["id"] == to_base64("User", user.pk)
    assert sign_in(gql, "NEW.buyer@example.com")["errors"] == []


def test_register_an_existing_email_in_any_case(gql, buyer):
    payload = gql.ok(REGISTER, {"email": "BUYER@example.com", "password": PASSWORD})
    assert payload["register"]["user"] is None
    assert codes(payload["register"]) == [("email", "ALREADY_EXISTS")]
    assert User.objects.count() == 1


def test_register_a_weak_password_gives_the_validators_messages(gql, db):
    payload = gql.ok(REGISTER, {"email": "a@example.com", "password": "12345"})[
        "register"
    ]
    assert codes(payload) == [("password", "INVALID")]
    message = payload["errors"][0]["message"]
    assert "too short" in message
    assert "too common" in message
    assert "entirely numeric" in message
    assert not User.objects.exists()


def test_register_reports_every_problem_at_once(gql, buyer):
    payload = gql.ok(REGISTER, {"email": "buyer@example.com", "password": "12345"})
    assert codes(payload["register"]) == [
        ("email", "ALREADY_EXISTS"),
        ("password", "INVALID"),
    ]


@pytest.mark.parametrize(
    ("email", "code"),
    [
        ("", "REQUIRED"),
        ("   ", "REQUIRED"),
        ("not-an-email", "INVALID"),
        ("a@b", "INVALID"),
        ("x" * 250 + "@example.com", "INVALID"),
    ],
)
def test_register_a_bad_email(gql, db, email, code):
    payload = gql.ok(REGISTER, {"email": email, "password": PASSWORD})["register"]
    assert codes(payload) == [("email", code)]
    assert not User.objects.exists()


# ---------------------------------------------------------------- tokenAuth


def test_token_auth_issues_a_pair_and_me_answers(gql, buyer):
    before = timezone.now()
    payload = sign_in(gql, "Buyer@Example.com")
    assert payload["errors"] == []
    assert payload["user"] == {"email": "buyer@example.com"}
    expires = parse_datetime(payload["expiresAt"])
    assert timedelta(minutes=14) < expires - before <= timedelta(minutes=15, seconds=5)
    refresh_expires = parse_datetime(payload["refreshExpiresAt"])
    assert (
        timedelta(days=29) < refresh_expires - before <= timedelta(days=30, minutes=1)
    )
    stored = RefreshToken.objects.get()
    assert stored.user == buyer
    assert stored.token == payload["refreshToken"]
    assert len(payload["refreshToken"]) == 64  # 32 random bytes, hex

    gql.authorize(f"Bearer {payload['token']}")
    assert gql.ok(ME)["me"] == {
        "id": to_base64("User", buyer.pk),
        "email": "buyer@example.com",
        "isStaff": False,
    }
    buyer.refresh_from_db()
    assert buyer.last_login is not None


def test_me_is_null_when_anonymous(gql, buyer):
    assert gql.ok(ME) == {"me": None}


@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("buyer@example.com", "wrong password 1"),
        ("nobody@example.com", PASSWORD),
        ("", PASSWORD),
        ("buyer@example.com", ""),
    ],
)
def test_wrong_email_or_password_get_the_same_answer(gql, buyer, email, password):
    payload = gql.ok(TOKEN_AUTH, {"email": email, "password": password})["tokenAuth"]
    assert payload["token"] is None
    assert payload["refreshToken"] is None
    assert payload["errors"] == [
        {
            "field": None,
            "code": "INVALID_CREDENTIALS",
            "message": "The email or the password is wrong.",
        }
    ]
    assert not RefreshToken.objects.exists()


def test_a_disabled_account_cannot_sign_in(gql, buyer):
    buyer.is_active = False
    buyer.save()
    assert codes(sign_in(gql)) == [(None, "INVALID_CREDENTIALS")]


# ---------------------------------------------------------------- throttling


def failures(gql, n: int, email="buyer@example.com") -> None:
    for _ in range(n):
        payload = sign_in(gql, email, "wrong password 1")
        assert codes(payload) == [(None, "INVALID_CREDENTIALS")]


def test_five_failures_throttle_the_email_even_with_the_right_password(gql, buyer):
    failures(gql, 5)
    payload = sign_in(gql)
    assert codes(payload) == [("email", "THROTTLED")]
    assert "Try again in 14 min" in payload["errors"][0]["message"]
    assert payload["token"] is None
    assert not RefreshToken.objects.exists()
    # another account from the same IP is not blocked by this email's counter
    UserFactory(email="other@example.com", password=PASSWORD)
    assert sign_in(gql, "other@example.com")["errors"] == []


def test_a_success_resets_the_email_counter(gql, buyer):
    failures(gql, 4)
    assert sign_in(gql)["errors"] == []
    failures(gql, 4)
    assert sign_in(gql)["errors"] == []


def test_the_throttle_ends_with_its_window(gql, buyer):
    failures(gql, 5)
    assert codes(sign_in(gql)) == [("email", "THROTTLED")]
    redis = get_redis_connection("default")
    for key in redis.keys("throttle:login:*"):  # as if 15 minutes had passed
        redis.pexpire(key, 200)
    time.sleep(0.4)
    assert sign_in(gql)["errors"] == []


def test_failures_are_counted_per_client_ip(gql, buyer, settings):
    settings.LOGIN_FAILURES_PER_IP = 3
    for n in range(3):
        failures(gql, 1, email=f"guess{n}@example.com")
    assert codes(sign_in(gql)) == [("email", "THROTTLED")]
    gql.http.defaults["REMOTE_ADDR"] = "203.0.113.9"
    assert sign_in(gql)["errors"] == []


def test_the_forwarded_ip_counts_only_behind_trusted_proxies(gql, buyer, settings):
    settings.LOGIN_FAILURES_PER_IP = 2
    gql.http.defaults["HTTP_X_FORWARDED_FOR"] = "198.51.100.1, 10.0.0.2"
    failures(gql, 2, email="x@example.com")
    # untrusted header: all of it came from the proxy's address
    gql.http.defaults["HTTP_X_FORWARDED_FOR"] = "198.51.100.7, 10.0.0.2"
    assert codes(sign_in(gql)) == [("email", "THROTTLED")]

    get_redis_connection("default").flushdb()
    settings.TRUSTED_PROXY_COUNT = 2
    gql.http.defaults["HTTP_X_FORWARDED_FOR"] = "198.51.100.1, 10.0.0.2"
    failures(gql, 2, email="x@example.com")
    gql.http.defaults["HTTP_X_FORWARDED_FOR"] = "198.51.100.7, 10.0.0.2"
    assert sign_in(gql)["errors"] == []


def test_counters_live_in_redis_with_the_window_as_ttl(gql, buyer):
    failures(gql, 2)
    redis = get_redis_connection("default")
    keys = sorted(k.decode() for k in redis.keys("throttle:login:*"))
    assert len(keys) == 2
    assert keys[0].startswith("throttle:login:email:")
    assert "buyer@example.com" not in keys[0]  # hashed, no address in Redis
    assert keys[1] == "throttle:login:ip:127.0.0.1"
    assert [int(redis.get(k)) for k in keys] == [2, 2]
    assert all(890 <= redis.ttl(k) <= 900 for k in keys)


# ---------------------------------------------------------------- refresh / revoke


def test_refresh_rotates_and_a_used_refresh_token_is_refused(gql, buyer):
    first = sign_in(gql)
    second = gql.ok(REFRESH, {"refreshToken": first["refreshToken"]})["refreshToken"]
    assert second["errors"] == []
    assert second["user"] == {"email": "buyer@example.com"}
    assert second["refreshToken"] != first["refreshToken"]
    assert second["token"]
    assert RefreshToken.objects.get(token=first["refreshToken"]).revoked is not None

    again = gql.ok(REFRESH, {"refreshToken": first["refreshToken"]})["refreshToken"]
    assert codes(again) == [("refreshToken", "INVALID_TOKEN")]
    assert again["token"] is None
    assert RefreshToken.objects.filter(revoked__isnull=True).count() == 1

    third = gql.ok(REFRESH, {"refreshToken": second["refreshToken"]})["refreshToken"]
    assert third["errors"] == []
    gql.authorize(f"Bearer {third['token']}")
    assert gql.ok(ME)["me"]["email"] == "buyer@example.com"


def test_unknown_refresh_token(gql, buyer):
    payload = gql.ok(REFRESH, {"refreshToken": "nope"})["refreshToken"]
    assert codes(payload) == [("refreshToken", "INVALID_TOKEN")]


def test_an_expired_refresh_token_is_refused(gql, buyer):
    pair = sign_in(gql)
    RefreshToken.objects.update(created=timezone.now() - timedelta(days=31))
    payload = gql.ok(REFRESH, {"refreshToken": pair["refreshToken"]})["refreshToken"]
    assert codes(payload) == [("refreshToken", "INVALID_TOKEN")]
    assert RefreshToken.objects.filter(revoked__isnull=True).count() == 1


def test_a_disabled_user_cannot_refresh(gql, buyer):
    pair = sign_in(gql)
    User.objects.filter(pk=buyer.pk).update(is_active=False)
    payload = gql.ok(REFRESH, {"refreshToken": pair["refreshToken"]})["refreshToken"]
    assert codes(payload) == [("refreshToken", "INVALID_TOKEN")]


def test_revoke_signs_a_session_out(gql, buyer):
    pair = sign_in(gql)
    payload = gql.ok(REVOKE, {"refreshToken": pair["refreshToken"]})["revokeToken"]
    assert payload == {"revoked": True, "errors": []}
    refused = gql.ok(REFRESH, {"refreshToken": pair["refreshToken"]})["refreshToken"]
    assert codes(refused) == [("refreshToken", "INVALID_TOKEN")]
    twice = gql.ok(REVOKE, {"refreshToken": pair["refreshToken"]})["revokeToken"]
    assert twice["revoked"] is False
    assert codes(twice) == [("refreshToken", "INVALID_TOKEN")]


# ---------------------------------------------------------------- verify / expiry


def test_verify_a_valid_token(gql, buyer):
    token = sign_in(gql)["token"]
    assert gql.ok(VERIFY, {"token": token})["verifyToken"] == {
        "valid": True,
        "email": "buyer@example.com",
        "errors": [],
    }


def tampered(token: str) -> str:
    header, payload, signature = token.split(".")
    return ".".join(
        [
            header,
            payload,
            signature[:-4] + ("AAAA" if signature[-4:] != "AAAA" else "BBBB"),
        ]
    )


@pytest.mark.parametrize("make", [tampered, lambda t: "garbage", lambda t: t + "x"])
def test_verify_a_bad_token(gql, buyer, make):
    token = make(sign_in(gql)["token"])
    payload = gql.ok(VERIFY, {"token": token})["verifyToken"]
    assert payload["valid"] is False
    assert payload["email"] is None
    assert codes(payload) == [("token", "INVALID_TOKEN")]


def test_access_tokens_expire_after_the_configured_lifetime(gql, buyer, settings):
    settings.GRAPHQL_JWT = {
        **settings.GRAPHQL_JWT,
        "JWT_EXPIRATION_DELTA": timedelta(seconds=1),
    }
    token = sign_in(gql)["token"]
    gql.authorize(f"Bearer {token}")
    assert gql.ok(ME)["me"]["email"] == "buyer@example.com"
    time.sleep(2.1)
    verify = gql.ok(VERIFY, {"token": token})["verifyToken"]
    assert verify["valid"] is False
    assert verify["errors"][0]["message"] == "The token has expired."
    # public fields answer as anonymous...
    assert gql.ok(ME) == {"me": None}
    # ...fields that need a user refuse, saying why
    result = gql(PASSWORD_CHANGE, {"current": PASSWORD, "new": "another passphrase 2"})
    assert result.error_codes() == ["UNAUTHENTICATED"]
    assert "expired" in result.errors[0]["message"]
    buyer.refresh_from_db()
    assert buyer.check_password(PASSWORD)


# ---------------------------------------------------------------- bad Bearer headers


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer garbage",
        "Bearer a.b.c",
        "Bearer ",
        "Token abc",
        "Bearer x y",
        "Bearer 🍓",
        "JWT abc",
    ],
)
def test_a_bad_authorization_is_anonymous_never_a_500(gql, buyer, authorization):
    gql.authorize(authorization)
    assert gql.ok("{ me { email } products { totalCount } }") == {
        "me": None,
        "products": {"totalCount": 0},
    }
    result = gql(PASSWORD_CHANGE, {"current": PASSWORD, "new": "another passphrase 2"})
    assert result.status == 200
    assert result.error_codes() == ["UNAUTHENTICATED"]
    assert result.data is None


def test_a_tampered_token_is_refused(gql, buyer):
    gql.authorize(f"Bearer {tampered(get_token(buyer))}")
    assert gql.ok(ME) == {"me": None}
    result = gql(PASSWORD_CHANGE, {"current": PASSWORD, "new": "another passphrase 2"})
    assert result.error_codes() == ["UNAUTHENTICATED"]
    assert result.errors[0]["message"] == "The access token is invalid."


def test_tokens_of_deleted_or_disabled_users_are_anonymous(gql, buyer):
    gql.login(buyer)
    User.objects.filter(pk=buyer.pk).update(is_active=False)
    assert gql.ok(ME) == {"me": None}
    User.objects.filter(pk=buyer.pk).delete()
    assert gql.ok(ME) == {"me": None}


def test_the_admin_session_does_not_authenticate_the_api(gql, buyer):
    gql.http.force_login(buyer)
    assert gql.ok(ME) == {"me": None}


# ---------------------------------------------------------------- passwordChange


def test_password_change_signs_out_other_sessions(gql, buyer):
    other_session = sign_in(gql)
    gql.login(buyer)
    payload = gql.ok(PASSWORD_CHANGE, {"current": PASSWORD, "new": "new passphrase 22"})
    changed = payload["passwordChange"]
    assert (changed["user"], changed["errors"]) == ({"email": "buyer@example.com"}, [])
    buyer.refresh_from_db()
    assert buyer.check_password("new passphrase 22")
    refused = gql.ok(REFRESH, {"refreshToken": other_session["refreshToken"]})
    assert codes(refused["refreshToken"]) == [("refreshToken", "INVALID_TOKEN")]
    # The session that asked stays signed in with its new pair.
    kept = gql.ok(REFRESH, {"refreshToken": changed["refreshToken"]})["refreshToken"]
    assert kept["errors"] == []
    gql.authorize(f"Bearer {changed['token']}")
    assert gql.ok("{ me { email } }")["me"] == {"email": "buyer@example.com"}


@pytest.mark.parametrize(
    ("current", "new", "expected"),
    [
        (
            "wrong password 9",
            "new passphrase 22",
            ("currentPassword", "INVALID_CREDENTIALS"),
        ),
        (PASSWORD, "123", ("newPassword", "INVALID")),
    ],
)
def test_password_change_refusals_change_nothing(gql, buyer, current, new, expected):
    session = sign_in(gql)
    gql.login(buyer)
    payload = gql.ok(PASSWORD_CHANGE, {"current": current, "new": new})
    assert codes(payload["passwordChange"]) == [expected]
    buyer.refresh_from_db()
    assert buyer.check_password(PASSWORD)
    assert RefreshToken.objects.get(token=session["refreshToken"]).revoked is None


# ---------------------------------------------------------------- who sees whom


def test_node_shows_a_user_only_to_themselves_and_staff(gql, buyer, staff_user):
    other = UserFactory(email="other@example.com")
    query = "query($id: ID!) { node(id: $id) { ... on User { email } } }"
    other_id = to_base64("User", other.pk)
    assert gql.ok(query, {"id": other_id}) == {"node": None}
    gql.login(buyer)
    assert gql.ok(query, {"id": other_id}) == {"node": None}
    assert gql.ok(query, {"id": to_base64("User", buyer.pk)}) == {
        "node": {"email": "buyer@example.com"}
    }
    gql.login(UserFactory(email="no.perms@example.com", is_staff=True))
    assert gql.ok(query, {"id": other_id}) == {"node": None}
    gql.login(staff_user)  # with accounts.view_user
    assert gql.ok(query, {"id": other_id}) == {"node": {"email": "other@example.com"}}
