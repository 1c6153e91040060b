"""Attempt counters in Redis: sign-ins per email and per client IP, registrations
per client IP.

Each attempt takes a slot in one atomic step (shop.core.throttle). For sign-ins,
at most LOGIN_FAILURES_PER_EMAIL passwords per email (and LOGIN_FAILURES_PER_IP per
IP) are checked per window, however many requests race.
A successful sign-in gives its slots back (the email's counter is reset, the IP's
decremented): the counters hold failures, plus the attempts still in flight.

If Redis does not answer, THROTTLE_FAIL_OPEN decides: on (the default), nothing
is throttled and it is logged; off, the attempt is refused (ThrottleUnavailable),
so that an outage cannot open the door to password guessing.
"""

import hashlib
import logging

from django.conf import settings
from django_redis import get_redis_connection
from redis.exceptions import RedisError

from shop.accounts.errors import AccountError
from shop.core.throttle import GIVE_BACK, attempt_take, attempts_give_back

logger = logging.getLogger(__name__)


def _email_key(email: str) -> str:
    return f"throttle:login:email:{hashlib.sha256(email.encode()).hexdigest()}"


def _ip_key(client_ip: str) -> str:
    return f"throttle:login:ip:{client_ip}"


def _take(
    counters: list[tuple[str, int]], window: int, what: str, field: str | None
) -> None:
    attempt_take(counters, window, what, field=field, error=AccountError)


def login_attempt_begin(*, email: str, client_ip: str | None) -> None:
    """Count a sign-in attempt for the email and the IP before its password is
    checked; raise THROTTLED, with the wait, when either is at its limit.

    The attempt stays counted as a failure unless ``login_attempt_succeeded`` or
    ``login_attempt_abandoned`` gives it back.
    """
    counters = [(_email_key(email), settings.LOGIN_FAILURES_PER_EMAIL)]
    if client_ip:
        counters.append((_ip_key(client_ip), settings.LOGIN_FAILURES_PER_IP))
    _take(
        counters,
        settings.LOGIN_FAILURE_WINDOW_SECONDS,
        "failed sign-ins",
        field="email",
    )


def login_attempt_succeeded(*, email: str, client_ip: str | None) -> None:
    """The password was right: forget the email's failures and give the IP its
    slot back."""
    try:
        with get_redis_connection("default").pipeline(transaction=False) as pipe:
            pipe.delete(_email_key(email))
            if client_ip:
                pipe.eval(GIVE_BACK, 1, _ip_key(client_ip))
            pipe.execute()
    except RedisError:
        logger.exception("Throttle unavailable; sign-in counters not reset")


def login_attempt_abandoned(*, email: str, client_ip: str | None) -> None:
    """The password could not be checked (an error, not a wrong password): give
    the email and the IP their slots back."""
    keys = [_email_key(email)] + ([_ip_key(client_ip)] if client_ip else [])
    attempts_give_back(keys, "sign-in")


def registration_attempt(*, client_ip: str | None) -> None:
    """Count a registration attempt from the IP (whatever its outcome: it also
    bounds how fast ``register`` can be asked which emails exist); raise THROTTLED,
    with the wait, past REGISTRATIONS_PER_IP per REGISTRATION_WINDOW_SECONDS."""
    if not client_ip:
        return
    _take(
        [(f"throttle:register:ip:{client_ip}", settings.REGISTRATIONS_PER_IP)],
        settings.REGISTRATION_WINDOW_SECONDS,
        "registrations from this address",
        field=None,
    )
