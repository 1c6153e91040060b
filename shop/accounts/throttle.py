"""Sign-in failure counters in Redis, per email and per client IP."""

import hashlib
import logging

from django.conf import settings
from django_redis import get_redis_connection
from redis.exceptions import RedisError

from shop.accounts.errors import AccountError, ErrorCode

logger = logging.getLogger(__name__)

# INCR each key and start its window on the first failure: one atomic round trip.
_RECORD = """
for i, key in ipairs(KEYS) do
  if redis.call('INCR', key) == 1 then
    redis.call('EXPIRE', key, ARGV[1])
  end
end
return 1
"""


def _keys(email: str, client_ip: str | None) -> dict[str, tuple[str, int]]:
    digest = hashlib.sha256(email.encode()).hexdigest()
    keys = {
        "email": (f"throttle:login:email:{digest}", settings.LOGIN_FAILURES_PER_EMAIL)
    }
    if client_ip:
        keys["ip"] = (f"throttle:login:ip:{client_ip}", settings.LOGIN_FAILURES_PER_IP)
    return keys


def login_throttle_check(*, email: str, client_ip: str | None) -> None:
    """Raise THROTTLED, with the wait, when the email or the IP failed too often.

    Fails open: if Redis does not answer, sign-in is not blocked (it is logged).
    """
    redis = get_redis_connection("default")
    keys = _keys(email, client_ip)
    try:
        with redis.pipeline(transaction=False) as pipe:
            for key, _ in keys.values():
                pipe.get(key)
                pipe.ttl(key)
            replies = pipe.execute()
    except RedisError:
        logger.exception("Sign-in throttle unavailable; not throttling")
        return
    waits = []
    for index, (_, limit) in enumerate(keys.values()):
        count, ttl = replies[2 * index], replies[2 * index + 1]
        if count is not None and int(count) >= limit:
            waits.append(max(int(ttl), 1))
    if waits:
        wait = max(waits)
        minutes, seconds = divmod(wait, 60)
        raise AccountError(
            ErrorCode.THROTTLED,
            f"Too many failed sign-ins. Try again in {minutes} min {seconds} s.",
            field="email",
        )


def login_failure_record(*, email: str, client_ip: str | None) -> None:
    """Count one failed sign-in for the email and the IP."""
    keys = [key for key, _ in _keys(email, client_ip).values()]
    try:
        get_redis_connection("default").eval(
            _RECORD, len(keys), *keys, settings.LOGIN_FAILURE_WINDOW_SECONDS
        )
    except RedisError:
        logger.exception("Sign-in throttle unavailable; failure not counted")


def login_failures_reset(*, email: str) -> None:
    """Forget the email's failures (after a successful sign-in)."""
    key, _ = _keys(email, None)["email"]
    try:
        get_redis_connection("default").delete(key)
    except RedisError:
        logger.exception("Sign-in throttle unavailable; counter not reset")
