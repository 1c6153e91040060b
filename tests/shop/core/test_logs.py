"""The log filters: secrets redacted, outages on one line, the request id on every
record."""

import json
import logging
import sqlite3

import psycopg
import pytest
import redis
from django.db import utils as db_errors

from shop.core.logs import (
    REDACTED,
    DependencyOutageFilter,
    JsonFormatter,
    LogScope,
    RedactingFilter,
    RequestContextFilter,
    TextFormatter,
    dependency_down,
    enter_scope,
    exit_scope,
    redact,
)

CART_TOKEN = "Vq3kZ8_xP2mN7rT4wY9bC1dF6gH0jK5lM3nB8vC2xZ1"  # token_urlsafe(32)
REFRESH_TOKEN = "9f2c" * 16  # 64 hex characters
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI0MiIsImV4cCI6MTcwMDAwMDAwMH0"
    ".Vb3cq0JmF9nH5bE2rW7tY1uI8oP4aS6dF0gH3jK9lZx"
)


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ('{"email": "a@b.c", "password": "hunter2 horse"}', "hunter2 horse"),
        ("{'new_password': 'S3cret!', 'x': 1}", "S3cret!"),
        ('mutation { tokenAuth(email: "a", password: "pa ss") { token } }', "pa ss"),
        (
            '{"query": "mutation { passwordChange(oldPassword: \\"old pw\\") }"}',
            "old pw",
        ),
        (f'refreshToken(refreshToken: "{REFRESH_TOKEN}")', REFRESH_TOKEN),
        (f"cart token={CART_TOKEN}&x=1", CART_TOKEN),
        (f"Key (token)=({CART_TOKEN}) already exists.", CART_TOKEN),
        (f"unknown cart {CART_TOKEN}", CART_TOKEN),
        (f"HTTP_AUTHORIZATION: Bearer {JWT}", JWT),
        (f"{{'Authorization': 'JWT {JWT}'}}", JWT),
        (f"sent {JWT} along", JWT),
        (
            "client = StripeClient('sk_live_51HxAbCdEfGh1234')",
            "sk_live_51HxAbCdEfGh1234",
        ),
        ("key rk_test_51Habc123", "rk_test_51Habc123"),
        ("STRIPE_WEBHOOK_SECRET=whsec_abc123XYZ", "whsec_abc123XYZ"),
        ("secret whsec_abc123XYZ in text", "whsec_abc123XYZ"),
        ("pi_3Nabc_secret_Zx81pQ", "pi_3Nabc_secret_Zx81pQ"),
        ('"stripe-signature": "t=1,v1=abcdef"', "t=1,v1=abcdef"),
        ("Cannot connect to redis://:s3cr3t@cache:6379/0", "s3cr3t"),
        ("postgres://shop:pa55@db:5432/shop refused", "pa55"),
    ],
)
def test_secrets_are_redacted(text, secret):
    redacted = redact(text)
    assert secret not in redacted
    assert REDACTED in redacted


@pytest.mark.parametrize(
    "text",
    [
        "POST /graphql/ ProductPage 200 12.5ms",
        "Order 1234-ABCD placed; Stripe event evt_1NxYz2AbCdEf3GhIjKlMn0pQ checked",
        "Session cs_test_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8s9T0u1V2w3X4y5Z6 paid",
        "request 5f0c3a9e-3c1b-4a8e-9a57-0d1f3b1c2a77 took 3ms",
        "This cart token is unknown or expired: start a new cart without a token.",
        "Argument 'first' cannot be higher than 100.",
    ],
)
def test_ordinary_text_is_left_alone(text):
    assert redact(text) == text


def run_filters(record: logging.LogRecord) -> bool:
    return all(
        f.filter(record)
        for f in (RequestContextFilter(), DependencyOutageFilter(), RedactingFilter())
    )


def make_record(msg, *args, exc=None, level=logging.ERROR, **extra):
    record = logging.LogRecord(
        "shop.test",
        level,
        __file__,
        1,
        msg,
        args,
        (type(exc), exc, None) if exc else None,
    )
    record.__dict__.update(extra)
    return record


def test_the_message_arguments_the_traceback_and_extras_are_redacted():
    try:
        raise ValueError(f"bad token {CART_TOKEN}")
    except ValueError as error:
        record = make_record(
            "login %s", {"password": "pw 1"}, exc=error, authorization="Bearer x"
        )
        record.exc_info = (ValueError, error, error.__traceback__)
    record.note = f"refresh_token={REFRESH_TOKEN}"

    assert run_filters(record)
    for formatter in (TextFormatter(), JsonFormatter()):
        line = formatter.format(record)
        assert "pw 1" not in line
        assert CART_TOKEN not in line
        assert REFRESH_TOKEN not in line
        assert "Bearer x" not in line
        assert "ValueError: bad token" in line
    assert json.loads(JsonFormatter().format(record))["authorization"] == REDACTED


def test_formatters_redact_a_traceback_the_filter_never_saw():
    try:
        raise RuntimeError(f"Authorization: Bearer {JWT}")
    except RuntimeError as error:
        record = make_record("boom", exc=error)
        record.exc_info = (RuntimeError, error, error.__traceback__)
    assert JWT not in TextFormatter().format(record)
    assert JWT not in JsonFormatter().format(record)


def redis_refused() -> redis.exceptions.ConnectionError:
    return redis.exceptions.ConnectionError("Error 111 connecting. Connection refused.")


def test_an_outage_is_one_line_per_scope_and_dependency():
    token = enter_scope(LogScope(request_id="r1"))
    try:
        records = [
            make_record("Throttle unavailable", exc=redis_refused()),
            make_record("Cart unavailable", exc=redis_refused()),
            make_record("Query failed", exc=db_errors.OperationalError("gone")),
            make_record("Again", exc=db_errors.InterfaceError("closed")),
        ]
        kept = [record for record in records if run_filters(record)]
    finally:
        exit_scope(token)

    assert [r.getMessage() for r in kept] == [
        "Throttle unavailable: redis unavailable (ConnectionError: "
        "Error 111 connecting. Connection refused.)",
        "Query failed: database unavailable (OperationalError: gone)",
    ]
    assert all(r.exc_info is None and r.request_id == "r1" for r in kept)


def test_outside_a_request_every_outage_is_kept_without_traceback():
    records = [make_record("Beat: broker down", exc=redis_refused()) for _ in range(2)]
    assert all(run_filters(record) for record in records)
    assert all(record.exc_info is None for record in records)
    assert records[0].request_id is None


def test_a_second_handler_gets_the_same_decision():
    token = enter_scope(LogScope(request_id="r2"))
    try:
        first = make_record("one", exc=redis_refused())
        second = make_record("two", exc=redis_refused())
        outage = DependencyOutageFilter()
        decisions = [outage.filter(first), outage.filter(second)]
        assert (
            [outage.filter(first), outage.filter(second)]
            == decisions
            == [
                True,
                False,
            ]
        )
    finally:
        exit_scope(token)


def wrapped(cause: Exception) -> db_errors.OperationalError:
    """How Django raises a driver's error."""
    error = db_errors.OperationalError(str(cause))
    error.__cause__ = cause
    return error


@pytest.mark.parametrize(
    ("error", "dependency"),
    [
        (redis_refused(), "redis"),
        (redis.exceptions.TimeoutError("Timeout reading from socket"), "redis"),
        (wrapped(psycopg.OperationalError("connection failed")), "database"),
        (wrapped(psycopg.errors.AdminShutdown("terminating connection")), "database"),
        (wrapped(psycopg.errors.DeadlockDetected("deadlock detected")), None),
        (wrapped(sqlite3.OperationalError("database is locked")), None),
        (ValueError("bad input"), None),
        (redis.exceptions.ResponseError("WRONGTYPE"), None),
    ],
)
def test_which_errors_are_outages(error, dependency):
    found = dependency_down(error)
    assert (found[0] if found else None) == dependency


def test_an_outage_behind_another_error_is_found():
    cause = redis_refused()
    error = RuntimeError("Carts are unavailable")
    error.__cause__ = cause
    assert dependency_down(error) == ("redis", cause)


def test_the_shop_s_own_sign_in_hint_survives_and_a_real_token_does_not():
    from shop.core.logs import redact

    hint = "Sign in first: send 'Authorization: Bearer <access token>'."
    assert redact(hint) == hint
    assert redact(f"Authorization: Bearer {JWT}") == "Authorization: Bearer [REDACTED]"
    assert redact("Authorization: Token abc123") == "Authorization: Token [REDACTED]"
