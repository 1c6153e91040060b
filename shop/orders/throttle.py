"""How many order emails went to one address lately: a counter per address in Redis."""

import hashlib
import logging

from django.conf import settings
from django_redis import get_redis_connection
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

# One atomic step: the rank of this email among those to the address in the current
# window (the window starts with the first and expires with the key). An email asked
# about again, by a retry, keeps the rank it got within the cap, so a flaky SMTP
# server does not use up the address's allowance; past the cap nothing is stored.
_RANK = """
local rank = redis.call('HGET', KEYS[1], ARGV[1])
if rank then
  return tonumber(rank)
end
rank = redis.call('HINCRBY', KEYS[1], '#', 1)
if redis.call('TTL', KEYS[1]) < 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
if rank <= tonumber(ARGV[3]) then
  redis.call('HSET', KEYS[1], ARGV[1], rank)
end
return rank
"""


def _key(email: str) -> str:
    # One mailbox, one counter: case and a "+tag" do not make a new address.
    local, _, domain = email.strip().lower().rpartition("@")
    address = f"{local.split('+', 1)[0]}@{domain}"
    return f"throttle:order-email:{hashlib.sha256(address.encode()).hexdigest()}"


def order_email_recipient_allowed(*, email: str, order_id: int, kind: str) -> bool:
    """Count the ``kind`` email of an order against its address; False past
    ORDER_EMAILS_PER_RECIPIENT within ORDER_EMAIL_RECIPIENT_WINDOW_SECONDS.

    Fails open: if Redis does not answer, the email is allowed (it is logged).
    """
    limit = settings.ORDER_EMAILS_PER_RECIPIENT
    try:
        rank = get_redis_connection("default").eval(
            _RANK,
            1,
            _key(email),
            f"{order_id}:{kind}",
            settings.ORDER_EMAIL_RECIPIENT_WINDOW_SECONDS,
            limit,
        )
    except RedisError:
        logger.exception("Order email limit unavailable; not limiting")
        return True
    return int(rank) <= limit
