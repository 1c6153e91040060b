"""Attempt counters in Redis, for anything guessable (sign-ins, registrations,
voucher codes).

Each attempt takes a slot in one atomic step (``_TAKE``, a Lua script): the
counters are read, compared with their limits and incremented together, so racing
requests cannot all pass a check made before any of them was counted. A caller
whose attempt turned out well gives its slots back (``attempts_give_back``): the
counters then hold failures, plus the attempts still in flight.

If Redis does not answer, THROTTLE_FAIL_OPEN decides: on (the default), nothing
is throttled and it is logged; off, the attempt is refused (ThrottleUnavailable),
so that an outage cannot open the door to guessing.
"""

import logging

from django.conf import settings
from django_redis import get_redis_connection
from redis.exceptions import RedisError

from shop.core.errors import DomainError, ErrorCode

logger = logging.getLogger(__name__)


class ThrottleUnavailable(Exception):
    """The attempt counters (Redis) do not answer and THROTTLE_FAIL_OPEN is off."""


# KEYS: the counters; ARGV[1]: the window in seconds; ARGV[1 + i]: KEYS[i]'s limit.
# When a counter is at its limit, nothing is counted and the answer is the longest
# wait in seconds; otherwise every counter is incremented (its window starts with
# its first attempt) and the answer is 0.
_TAKE = """
local wait = 0
for i, key in ipairs(KEYS) do
  if tonumber(redis.call('GET', key) or '0') >= tonumber(ARGV[i + 1]) then
    local ttl = redis.call('TTL', key)
    if ttl < 0 then
      redis.call('EXPIRE', key, ARGV[1])
      ttl = tonumber(ARGV[1])
    end
    wait = math.max(wait, ttl, 1)
  end
end
if wait > 0 then
  return wait
end
for i, key in ipairs(KEYS) do
  if redis.call('INCR', key) == 1 then
    redis.call('EXPIRE', key, ARGV[1])
  end
end
return 0
"""

# KEYS: counters to give one slot back to (never below zero, window kept).
GIVE_BACK = """
for i, key in ipairs(KEYS) do
  if tonumber(redis.call('GET', key) or '0') > 0 then
    redis.call('DECR', key)
  end
end
return 1
"""


def attempt_take(
    counters: list[tuple[str, int]],
    window: int,
    what: str,
    *,
    field: str | None,
    error: type[DomainError],
) -> None:
    """Count one attempt in every counter, or raise THROTTLED with the wait."""
    if not counters:
        return
    keys = [key for key, _ in counters]
    limits = [limit for _, limit in counters]
    try:
        wait = int(
            get_redis_connection("default").eval(
                _TAKE, len(keys), *keys, window, *limits
            )
        )
    except RedisError as error:
        if not settings.THROTTLE_FAIL_OPEN:
            logger.exception("Throttle unavailable; refusing an attempt (%s)", what)
            raise ThrottleUnavailable(what) from error
        logger.exception("Throttle unavailable; not throttling %s", what)
        return
    if wait:
        minutes, seconds = divmod(wait, 60)
        raise error(
            ErrorCode.THROTTLED,
            f"Too many {what}. Try again in {minutes} min {seconds} s.",
            field=field,
        )


def attempts_give_back(keys: list[str], what: str) -> None:
    """Give one slot back to each counter (never below zero, window kept)."""
    if not keys:
        return
    try:
        get_redis_connection("default").eval(GIVE_BACK, len(keys), *keys)
    except RedisError:
        logger.exception("Throttle unavailable; %s attempt not given back", what)
