"""The Redis cart store: the only code that knows the cart keys.

A cart is one Redis hash, ``cart:user:<id>`` or ``cart:guest:<token>``, mapping a
variant id to a quantity, plus a marker field ``_`` that keeps an emptied cart (and
its token) alive and holds the cart's *revision*: a random value every write
replaces, so one read tells the lines and which state of the cart they are (a
checkout turns one revision into at most one order); and, when the buyer applied
one, the voucher code in field ``v`` (emptying the cart keeps it, a purchase
drops it, a merge keeps the user's or else takes the guest's). Every write is one Lua
script, so concurrent requests never lose an update, and refreshes the TTL. Prices
are never stored here.

Scripts check everything first and write only if every line passes, so a refused
request changes nothing.
"""

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.conf import settings
from django_redis import get_redis_connection
from redis.exceptions import RedisError

from shop.cart.errors import CartUnavailable

MARKER = "_"
VOUCHER = "v"
TOKEN_BYTES = 32  # 256 bits; token_urlsafe gives 43 characters
# Carts written before revisions existed hold "1" in the marker: that is their
# revision until their next write (no order was ever placed from a revision).


@dataclass(frozen=True)
class CartKey:
    """Which cart: a signed-in user's or a guest's (by token)."""

    user_id: int | None = None
    token: str | None = None

    @property
    def redis_key(self) -> str:
        if self.user_id is not None:
            return f"cart:user:{self.user_id}"
        return f"cart:guest:{self.token}"


def _merged_key(token: str) -> str:
    return f"cart:merged:{token}"


def new_guest_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_well_formed(token: str) -> bool:
    return (
        len(token) == 43
        and token.isascii()
        and all(c.isalnum() or c in "-_" for c in token)
    )


def _ttl() -> int:
    return settings.CART_TTL_DAYS * 24 * 3600


def _revision() -> str:
    return secrets.token_hex(8)


# ---------------------------------------------------------------- scripts

# KEYS[1] cart. ARGV: ttl, create (1/0), max lines, revision, then
# (variant, add, cap)...
# -> {"ok"} | {"missing"} | {"over", variant, current, ...} | {"too_many"}
_ADD = """
local key = KEYS[1]
if redis.call('EXISTS', key) == 0 and ARGV[2] ~= '1' then return {'missing'} end
local over, new_lines = {}, 0
for i = 5, #ARGV, 3 do
  local current = tonumber(redis.call('HGET', key, ARGV[i]) or '0')
  if current == 0 then new_lines = new_lines + 1 end
  if current + tonumber(ARGV[i + 1]) > tonumber(ARGV[i + 2]) then
    table.insert(over, ARGV[i]); table.insert(over, current)
  end
end
if #over > 0 then table.insert(over, 1, 'over'); return over end
local lines = redis.call('HLEN', key) - redis.call('HEXISTS', key, '_')
  - redis.call('HEXISTS', key, 'v')
if lines + new_lines > tonumber(ARGV[3]) then return {'too_many'} end
redis.call('HSET', key, '_', ARGV[4])
for i = 5, #ARGV, 3 do redis.call('HINCRBY', key, ARGV[i], ARGV[i + 1]) end
redis.call('EXPIRE', key, ARGV[1])
local written = redis.call('HGETALL', key)
table.insert(written, 1, 'ok')
return written
"""

# KEYS[1] cart. ARGV: ttl, create (1/0), max lines, revision, then
# (variant, quantity)...; 0 removes.
_UPDATE = """
local key = KEYS[1]
if redis.call('EXISTS', key) == 0 and ARGV[2] ~= '1' then return {'missing'} end
local lines = redis.call('HLEN', key) - redis.call('HEXISTS', key, '_')
  - redis.call('HEXISTS', key, 'v')
for i = 5, #ARGV, 2 do
  local present = redis.call('HEXISTS', key, ARGV[i]) == 1
  if ARGV[i + 1] == '0' then
    if present then lines = lines - 1 end
  elseif not present then
    lines = lines + 1
  end
end
if lines > tonumber(ARGV[3]) then return {'too_many'} end
redis.call('HSET', key, '_', ARGV[4])
for i = 5, #ARGV, 2 do
  if ARGV[i + 1] == '0' then redis.call('HDEL', key, ARGV[i])
  else redis.call('HSET', key, ARGV[i], ARGV[i + 1]) end
end
redis.call('EXPIRE', key, ARGV[1])
local written = redis.call('HGETALL', key)
table.insert(written, 1, 'ok')
return written
"""

# KEYS[1] cart. ARGV: ttl, create (1/0), revision, variants... Removes the
# variants' lines, or every line when no variant is named.
_REMOVE = """
local key = KEYS[1]
if redis.call('EXISTS', key) == 0 and ARGV[2] ~= '1' then return {'missing'} end
if #ARGV == 3 then
  local voucher = redis.call('HGET', key, 'v')
  redis.call('DEL', key)
  if voucher then redis.call('HSET', key, 'v', voucher) end
else
  for i = 4, #ARGV do redis.call('HDEL', key, ARGV[i]) end
end
redis.call('HSET', key, '_', ARGV[3])
redis.call('EXPIRE', key, ARGV[1])
return {'ok'}
"""

# KEYS[1] cart. ARGV: revision, then (variant, quantity)... Subtracts, dropping
# lines that reach 0, and the voucher (it was used).
_SUBTRACT = """
local key = KEYS[1]
if redis.call('EXISTS', key) == 0 then return {'missing'} end
redis.call('HSET', key, '_', ARGV[1])
redis.call('HDEL', key, 'v')
for i = 2, #ARGV, 2 do
  local current = tonumber(redis.call('HGET', key, ARGV[i]) or '0')
  local left = current - tonumber(ARGV[i + 1])
  if left > 0 then redis.call('HSET', key, ARGV[i], left)
  else redis.call('HDEL', key, ARGV[i]) end
end
return {'ok'}
"""

# KEYS: guest cart, user cart, merged marker. ARGV: ttl, user id, max lines, line
# maximum, revision, then (variant, cap)... Quantities add, capped by each
# variant's cap (never below what the user already had); a cap of 0 drops the line
# (a deleted or unpublished variant). A guest line with no cap given (added since
# the caps were read) changes nothing: the reply is {"stale"} and the caller reads
# the caps again.
_MERGE = """
local guest, user, marker = KEYS[1], KEYS[2], KEYS[3]
if redis.call('EXISTS', guest) == 0 then
  if redis.call('GET', marker) == ARGV[2] then return {'already'} end
  return {'missing'}
end
local caps = {}
for i = 6, #ARGV, 2 do caps[ARGV[i]] = tonumber(ARGV[i + 1]) end
local fields = redis.call('HGETALL', guest)
for i = 1, #fields, 2 do
  if fields[i] ~= '_' and fields[i] ~= 'v' and caps[fields[i]] == nil then
    return {'stale'}
  end
end
local lines = redis.call('HLEN', user) - redis.call('HEXISTS', user, '_')
  - redis.call('HEXISTS', user, 'v')
for i = 1, #fields, 2 do
  local variant, quantity = fields[i], fields[i + 1]
  local cap = caps[variant]
  if variant == 'v' then
    redis.call('HSETNX', user, 'v', quantity)
  elseif variant ~= '_' and cap ~= nil and cap > 0 then
    quantity = tonumber(quantity)
    local current = tonumber(redis.call('HGET', user, variant) or '0')
    if current > 0 or lines < tonumber(ARGV[3]) then
      if current == 0 then lines = lines + 1 end
      local merged = math.max(current, math.min(current + quantity, cap))
      redis.call('HSET', user, variant, merged)
    end
  end
end
redis.call('HSET', user, '_', ARGV[5])
redis.call('EXPIRE', user, ARGV[1])
redis.call('DEL', guest)
redis.call('SET', marker, ARGV[2], 'EX', ARGV[1])
return {'merged'}
"""


# KEYS[1] cart. ARGV: ttl, create (1/0), revision, code ("" removes it).
_VOUCHER = """
local key = KEYS[1]
if redis.call('EXISTS', key) == 0 and ARGV[2] ~= '1' then return {'missing'} end
redis.call('HSET', key, '_', ARGV[3])
if ARGV[4] == '' then redis.call('HDEL', key, 'v')
else redis.call('HSET', key, 'v', ARGV[4]) end
redis.call('EXPIRE', key, ARGV[1])
return {'ok'}
"""


def _run(source: str, keys: Sequence[str], args: Sequence) -> list:
    # register_script only hashes the source; the script is sent once (EVALSHA,
    # falling back to EVAL) and cached by Redis itself.
    script = get_redis_connection("default").register_script(source)
    try:
        reply = script(keys=list(keys), args=[str(a) for a in args])
    except RedisError as error:
        raise CartUnavailable(str(error)) from error
    return [part.decode() if isinstance(part, bytes) else part for part in reply]


# ---------------------------------------------------------------- operations


@dataclass(frozen=True)
class CartState:
    """A cart's lines (variant id -> quantity), the revision they are, and the
    voucher code applied ("" for none)."""

    lines: dict[int, int]
    revision: str
    voucher_code: str = ""


def cart_read(key: CartKey) -> CartState | None:
    """The cart's lines and revision in one read; None when the cart does not
    exist (an existing cart always holds its marker field)."""
    try:
        fields = get_redis_connection("default").hgetall(key.redis_key)
    except RedisError as error:
        raise CartUnavailable(str(error)) from error
    if not fields:
        return None
    revision = fields.pop(MARKER.encode(), b"").decode()
    voucher = fields.pop(VOUCHER.encode(), b"").decode()
    lines = {int(variant): int(quantity) for variant, quantity in fields.items()}
    return CartState(lines, revision, voucher)


def cart_lines(key: CartKey) -> dict[int, int] | None:
    """Variant id -> quantity; None when the cart does not exist."""
    state = cart_read(key)
    return None if state is None else state.lines


def lines_add(
    key: CartKey,
    lines: Iterable[tuple[int, int, int]],
    *,
    create: bool,
    max_lines: int,
) -> list:
    """Add ``(variant, quantity, cap)`` lines unless any would exceed its cap.

    Returns ``["ok", field, value, ...]`` (the cart as written, read in the same
    script: see ``written``), ``["missing"]``, ``["too_many"]`` or
    ``["over", variant, current quantity, ...]`` for the lines over their cap.
    """
    args = [_ttl(), "1" if create else "0", max_lines, _revision()]
    for variant, quantity, cap in lines:
        args += [variant, quantity, cap]
    return _run(_ADD, [key.redis_key], args)


def written(reply: list) -> CartState:
    """The cart as an "ok" reply of lines_add or lines_set carries it: read in the
    same script as the write, so a merge or an expiry right after it cannot make
    the write look refused."""
    fields = dict(zip(reply[1::2], reply[2::2], strict=True))
    revision = fields.pop(MARKER, "")
    voucher = fields.pop(VOUCHER, "")
    return CartState({int(v): int(q) for v, q in fields.items()}, revision, voucher)


def lines_set(
    key: CartKey, lines: Iterable[tuple[int, int]], *, create: bool, max_lines: int
) -> list:
    """Set ``(variant, quantity)`` lines, 0 removing: ``["ok", field, value, ...]``
    (the cart as written, see ``written``), ``["missing"]`` or ``["too_many"]``."""
    args = [_ttl(), "1" if create else "0", max_lines, _revision()]
    for variant, quantity in lines:
        args += [variant, quantity]
    return _run(_UPDATE, [key.redis_key], args)


def lines_remove(key: CartKey, variants: Sequence[int], *, create: bool) -> str:
    """Remove the variants' lines (at least one): "ok" or "missing"."""
    if not variants:
        raise ValueError("Name at least one variant; lines_clear empties a cart.")
    args = [_ttl(), "1" if create else "0", _revision(), *variants]
    return _run(_REMOVE, [key.redis_key], args)[0]


def lines_clear(key: CartKey, *, create: bool) -> str:
    """Remove every line, keeping the cart (and its token): "ok" or "missing"."""
    args = [_ttl(), "1" if create else "0", _revision()]
    return _run(_REMOVE, [key.redis_key], args)[0]


def voucher_set(key: CartKey, code: str, *, create: bool) -> str:
    """Keep ``code`` with the cart ("" removes it): "ok" or "missing"."""
    args = [_ttl(), "1" if create else "0", _revision(), code]
    return _run(_VOUCHER, [key.redis_key], args)[0]


def lines_subtract(key: CartKey, quantities: dict[int, int]) -> str:
    """Take bought quantities out of the cart (lines added since stay)."""
    if not quantities:
        return "ok"
    args = [_revision()]
    for variant, quantity in quantities.items():
        args += [variant, quantity]
    return _run(_SUBTRACT, [key.redis_key], args)[0]


def lines_drop(key: CartKey, variants: Iterable[int]) -> None:
    """Forget lines whose variant no longer exists (no TTL change)."""
    variants = list(variants)
    if not variants:
        return
    try:
        get_redis_connection("default").hdel(key.redis_key, *variants)
    except RedisError as error:
        raise CartUnavailable(str(error)) from error


def guest_merge(
    token: str,
    user_id: int,
    caps: dict[int, int],
    *,
    max_lines: int,
    line_max: int,
) -> str:
    """Move the guest cart ``token`` into the user's: "merged", "already",
    "missing", or "stale" (nothing done: the guest cart holds a variant ``caps``
    does not name; read the caps again)."""
    keys = [
        CartKey(token=token).redis_key,
        CartKey(user_id=user_id).redis_key,
        _merged_key(token),
    ]
    args = [_ttl(), user_id, max_lines, line_max, _revision()]
    for variant, cap in caps.items():
        args += [variant, cap]
    return _run(_MERGE, keys, args)[0]


def ttl(key: CartKey) -> int:
    """Seconds before the cart expires (-2 when missing)."""
    try:
        return get_redis_connection("default").ttl(key.redis_key)
    except RedisError as error:
        raise CartUnavailable(str(error)) from error
