"""The sign-in and registration throttles under real parallel requests.

Each request is a POST to /graphql/ from its own thread, django.test.Client and
database connection (tests.concurrency.race starts them at the same moment).
"""

import json
import re
import threading
import time

import pytest
from django.test import Client
from django_redis import get_redis_connection

from shop.accounts import services
from shop.accounts.models import User
from tests.concurrency import race
from tests.factories import UserFactory

PASSWORD = "a long passphrase 1"
WRONG = "wrong password 1"

TOKEN_AUTH = """mutation($email: String!, $password: String!) {
  tokenAuth(email: $email, password: $password) {
    token errors { field code message } } }"""
REGISTER = """mutation($email: String!, $password: String!) {
  register(email: $email, password: $password) {
    user { email } errors { field code message } } }"""


def post(query: str, variables: dict, **headers) -> dict:
    """One request from a client of its own; the mutation's payload."""
    response = Client().post(
        "/graphql/",
        json.dumps({"query": query, "variables": variables}),
        content_type="application/json",
        **headers,
    )
    body = response.json()
    assert response.status_code == 200, body
    assert "errors" not in body, body
    (payload,) = body["data"].values()
    return payload


def sign_in(email: str, password: str, **headers):
    return lambda: post(TOKEN_AUTH, {"email": email, "password": password}, **headers)


def register(email: str, **headers):
    return lambda: post(REGISTER, {"email": email, "password": PASSWORD}, **headers)


def codes(payloads: list) -> list[str]:
    """Each payload's first error code ("OK" without errors), sorted."""
    assert all(isinstance(p, dict) for p in payloads), payloads
    return sorted(p["errors"][0]["code"] if p["errors"] else "OK" for p in payloads)


@pytest.fixture
def password_checks(monkeypatch) -> list[str]:
    """Every User.check_password call, slowed down so that racing requests all
    overlap while their passwords are checked."""
    checks: list[str] = []
    lock = threading.Lock()
    real = User.check_password

    def counted(user, raw_password):
        with lock:
            checks.append(raw_password)
        time.sleep(0.2)
        return real(user, raw_password)

    monkeypatch.setattr(User, "check_password", counted)
    return checks


# ---------------------------------------------------------------- sign-in


@pytest.mark.django_db(transaction=True)
def test_racing_wrong_passwords_for_one_email_check_at_most_the_limit(
    password_checks,
):
    UserFactory(email="buyer@example.com", password=PASSWORD)
    outcomes = race([sign_in("buyer@example.com", WRONG)] * 9)
    assert codes(outcomes) == ["INVALID_CREDENTIALS"] * 5 + ["THROTTLED"] * 4
    assert len(password_checks) == 5
    throttled = [p for p in outcomes if p["errors"][0]["code"] == "THROTTLED"]
    assert all(p["errors"][0]["field"] == "email" for p in throttled)
    waits = [
        re.search(r"Try again in (\d+) min", p["errors"][0]["message"])
        for p in throttled
    ]
    assert all(wait and int(wait[1]) in (14, 15) for wait in waits), throttled
    # the right password is refused too until the window ends, unchecked
    assert codes([sign_in("buyer@example.com", PASSWORD)()]) == ["THROTTLED"]
    assert len(password_checks) == 5


@pytest.mark.django_db(transaction=True)
def test_racing_wrong_passwords_from_one_ip_check_at_most_its_limit(
    settings, password_checks
):
    settings.LOGIN_FAILURES_PER_IP = 3
    for n in range(9):
        UserFactory(email=f"buyer{n}@example.com", password=PASSWORD)
    outcomes = race([sign_in(f"buyer{n}@example.com", WRONG) for n in range(9)])
    assert codes(outcomes) == ["INVALID_CREDENTIALS"] * 3 + ["THROTTLED"] * 6
    assert len(password_checks) == 3
    # another address still signs in
    other = sign_in("buyer0@example.com", PASSWORD, REMOTE_ADDR="203.0.113.9")()
    assert other["errors"] == []
    assert other["token"]


@pytest.mark.django_db(transaction=True)
def test_racing_right_passwords_do_not_count_as_failures(settings):
    settings.LOGIN_FAILURES_PER_IP = 3
    settings.LOGIN_FAILURES_PER_EMAIL = 3
    UserFactory(email="buyer@example.com", password=PASSWORD)
    for _ in range(3):  # three times either limit: a success gives its slots back
        outcomes = race([sign_in("buyer@example.com", PASSWORD)] * 3)
        assert codes(outcomes) == ["OK"] * 3
    assert sign_in("buyer@example.com", PASSWORD)()["errors"] == []
    redis = get_redis_connection("default")
    assert int(redis.get("throttle:login:ip:127.0.0.1") or 0) == 0


@pytest.mark.django_db
def test_a_password_check_that_fails_with_an_error_is_not_a_failure(monkeypatch):
    UserFactory(email="buyer@example.com", password=PASSWORD)

    def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(services, "authenticate", broken)
    for _ in range(6):
        with pytest.raises(RuntimeError):
            services.token_obtain(
                email="buyer@example.com", password=PASSWORD, client_ip="192.0.2.1"
            )
    redis = get_redis_connection("default")
    assert [int(redis.get(key)) for key in redis.keys("throttle:login:*")] == [0, 0]
    monkeypatch.undo()
    assert services.token_obtain(
        email="buyer@example.com", password=PASSWORD, client_ip="192.0.2.1"
    ).token


# ---------------------------------------------------------------- register


@pytest.mark.django_db
def test_register_is_throttled_per_client_ip_and_creates_nothing(settings):
    settings.REGISTRATIONS_PER_IP = 3
    assert register("a@example.com")()["errors"] == []
    # failed attempts count too (they also tell which emails have accounts)
    assert codes([register("a@example.com")()]) == ["ALREADY_EXISTS"]
    assert register("b@example.com")()["errors"] == []
    payload = register("c@example.com")()
    assert payload["user"] is None
    (error,) = payload["errors"]
    assert error["code"] == "THROTTLED"
    assert error["field"] is None
    assert error["message"].startswith("Too many registrations from this address.")
    assert re.search(r"Try again in (59|60) min \d+ s\.$", error["message"])
    assert sorted(User.objects.values_list("email", flat=True)) == [
        "a@example.com",
        "b@example.com",
    ]
    # another address is not throttled by this one's counter
    other = register("c@example.com", REMOTE_ADDR="203.0.113.9")()
    assert other["errors"] == []
    assert other["user"] == {"email": "c@example.com"}
    redis = get_redis_connection("default")
    assert 3590 <= redis.ttl("throttle:register:ip:127.0.0.1") <= 3600


@pytest.mark.django_db(transaction=True)
def test_racing_registrations_from_one_ip_create_at_most_the_limit(settings):
    settings.REGISTRATIONS_PER_IP = 3
    outcomes = race([register(f"r{n}@example.com") for n in range(9)])
    assert codes(outcomes) == ["OK"] * 3 + ["THROTTLED"] * 6
    assert User.objects.count() == 3


@pytest.mark.django_db
def test_register_throttles_the_forwarded_ip_only_behind_trusted_proxies(settings):
    settings.REGISTRATIONS_PER_IP = 1
    forged = {"HTTP_X_FORWARDED_FOR": "198.51.100.1"}
    assert register("a@example.com", **forged)()["errors"] == []
    forged = {"HTTP_X_FORWARDED_FOR": "198.51.100.2"}
    assert codes([register("b@example.com", **forged)()]) == ["THROTTLED"]

    settings.TRUSTED_PROXY_COUNT = 1
    assert register("b@example.com", **forged)()["errors"] == []
    assert codes([register("c@example.com", **forged)()]) == ["THROTTLED"]


@pytest.mark.django_db
def test_register_works_when_redis_is_down(settings):
    settings.REGISTRATIONS_PER_IP = 1
    settings.CACHES = {
        "default": {**settings.CACHES["default"], "LOCATION": "redis://127.0.0.1:1/0"}
    }
    assert register("a@example.com")()["errors"] == []
    assert register("b@example.com")()["errors"] == []


@pytest.mark.django_db
def test_with_fail_open_off_a_redis_outage_refuses_sign_ins(gql, settings):
    """THROTTLE_FAIL_OPEN=false: no unthrottled password guessing during an outage;
    nothing is created and no password is checked."""
    UserFactory(email="buyer@example.com", password=PASSWORD)
    settings.THROTTLE_FAIL_OPEN = False
    settings.CACHES = {
        "default": {**settings.CACHES["default"], "LOCATION": "redis://127.0.0.1:1/0"}
    }
    signed_in = gql(TOKEN_AUTH, {"email": "buyer@example.com", "password": PASSWORD})
    registered = gql(REGISTER, {"email": "new@example.com", "password": PASSWORD})
    for result in (signed_in, registered):
        assert result.error_codes() == ["SERVICE_UNAVAILABLE"]
        assert "unavailable right now" in result.errors[0]["message"]
        assert result.data is None
    assert not User.objects.filter(email="new@example.com").exists()

    settings.THROTTLE_FAIL_OPEN = True  # the default: let them through
    assert gql.ok(TOKEN_AUTH, {"email": "buyer@example.com", "password": PASSWORD})[
        "tokenAuth"
    ]["token"]
