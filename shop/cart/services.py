"""The cart: which cart a request means, what may go in it, what it costs now.

Lines live in Redis (shop.cart.store); stock, publication and prices come from the
catalog at the moment of each read or write, never from the cart. A price is what
the buyer pays at that moment: the best sale running then (shop.discounts.sales,
computed from the sales themselves, so it changes at the sale's boundary to the
second).
"""

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings

from shop.cart import store
from shop.cart.errors import CartError, CartUnavailable, ErrorCode
from shop.cart.store import CartKey
from shop.catalog.models import ProductVariant
from shop.core.throttle import (
    ThrottleUnavailable,
    attempt_take,
    attempts_give_back,
)
from shop.discounts.errors import DiscountError
from shop.discounts.sales import VariantRow, paid_price, running_sales
from shop.discounts.vouchers import Customer, voucher_find, voucher_judge

# A merge whose guest cart gains a line between reading its caps and merging is
# done again with fresh caps, this many times at most.
MERGE_ATTEMPTS = 5
TOKEN_UNKNOWN = (
    "This cart token is unknown or expired: start a new cart without a token."
)


@dataclass(frozen=True)
class CartSnapshot:
    """A cart as read now: its lines priced at current catalog prices (no prices
    for checkout's read: cart_checkout_lines)."""

    key: CartKey
    quantities: dict[int, int] = field(default_factory=dict)  # variant id -> qty
    prices: dict[int, Decimal] = field(default_factory=dict)  # variant id -> price
    # Which state of the cart this is: every write changes it ("" before the
    # first write of a user's cart).
    revision: str = ""
    voucher_code: str = ""  # the code applied (cartVoucherApply); "" for none

    @property
    def token(self) -> str | None:
        """The guest token; None for a signed-in user's cart."""
        return self.key.token

    @property
    def total_quantity(self) -> int:
        return sum(self.quantities.values())

    @property
    def subtotal(self) -> Decimal:
        return sum(
            (self.line_total(variant) for variant in self.quantities),
            Decimal("0.00"),
        )

    def line_total(self, variant_id: int) -> Decimal:
        return self.prices[variant_id] * self.quantities[variant_id]


def _published_variants(ids) -> dict[int, tuple[int, VariantRow]]:
    """variant id -> (quantity available, what the sale rule reads of it), for
    published products only."""
    ids = list(ids)
    if not ids:
        return {}
    rows = ProductVariant.objects.filter(
        pk__in=ids, product__is_published=True
    ).values_list(
        "pk", "quantity_available", "price", "product_id", "product__category_id"
    )
    return {
        pk: (stock, VariantRow(pk, product_id, category_id, price))
        for pk, stock, price, product_id, category_id in rows
    }


# ---------------------------------------------------------------- which cart


def _guest_key(token: str | None) -> CartKey:
    if token is None:
        raise CartError(
            ErrorCode.REQUIRED, "A guest cart needs its token.", field="token"
        )
    if not store.token_well_formed(token):
        raise CartError(ErrorCode.INVALID_TOKEN, TOKEN_UNKNOWN, field="token")
    # Whether it exists is known from the next read or write (each says "missing").
    return CartKey(token=token)


def cart_merge(*, user, token: str) -> None:
    """Merge the guest cart ``token`` into the user's cart, once.

    Quantities add, capped by current stock and the per-line maximum; lines of
    deleted or unpublished variants are dropped; the guest cart is deleted. Passing
    the same token again is a no-op; a token that never was, or that another user
    merged, is INVALID_TOKEN.
    """
    if not store.token_well_formed(token):
        raise CartError(ErrorCode.INVALID_TOKEN, TOKEN_UNKNOWN, field="token")
    for _ in range(MERGE_ATTEMPTS):
        guest_lines = store.cart_lines(CartKey(token=token)) or {}
        published = _published_variants(guest_lines)
        caps = {  # 0: the line is dropped
            variant: min(
                published.get(variant, (0,))[0], settings.CART_MAX_LINE_QUANTITY
            )
            for variant in guest_lines
        }
        outcome = store.guest_merge(
            token,
            user.pk,
            caps,
            max_lines=settings.CART_MAX_LINES,
            line_max=settings.CART_MAX_LINE_QUANTITY,
        )
        if outcome != "stale":  # a line was added to the guest cart meanwhile
            break
    else:
        raise CartUnavailable("The guest cart kept changing during the merge.")
    if outcome == "missing":
        raise CartError(ErrorCode.INVALID_TOKEN, TOKEN_UNKNOWN, field="token")


def _cart_key(*, user, token: str | None) -> CartKey | None:
    """The cart a request means; merges a guest token into a signed-in user's cart.

    None for an anonymous request without a token (no cart yet).
    """
    if user.is_authenticated:
        if token is not None:
            cart_merge(user=user, token=token)
        return CartKey(user_id=user.pk)
    if token is None:
        return None
    return _guest_key(token)


# ---------------------------------------------------------------- reads


def cart_get(*, user, token: str | None) -> CartSnapshot | None:
    """The request's cart priced now; None for an anonymous request without token.

    Lines whose variant was deleted or unpublished since are dropped from the cart.
    """
    key = _cart_key(user=user, token=token)
    return None if key is None else _snapshot(key)


def _snapshot(
    key: CartKey,
    known: dict[int, tuple[int, VariantRow]] | None = None,
    state: store.CartState | None = None,
    *,
    priced: bool = True,
) -> CartSnapshot:
    """The cart as stored, or as ``state`` (what a write just left). ``known``:
    variants this request has just read with _published_variants (a write's own
    lines), not read again. ``priced=False``: no prices (and no sales read), for
    a caller that prices the lines itself."""
    state = state or store.cart_read(key)
    if state is None:
        if key.token is not None:  # a guest token that is unknown or expired
            raise CartError(ErrorCode.INVALID_TOKEN, TOKEN_UNKNOWN, field="token")
        state = store.CartState({}, "")  # a user's cart is made by its first write
    quantities = state.lines
    known = known or {}
    variants = {v: known[v] for v in quantities if v in known}
    if len(variants) < len(quantities):
        variants |= _published_variants(v for v in quantities if v not in known)
    gone = [variant for variant in quantities if variant not in variants]
    store.lines_drop(key, gone)
    # What the buyer pays now: the sales running at this moment (one query
    # without sales), never a stored price that a boundary may have passed.
    sales = running_sales() if variants and priced else []
    return CartSnapshot(
        key=key,
        quantities={v: q for v, q in sorted(quantities.items()) if v in variants},
        prices=(
            {v: paid_price(row, sales) for v, (_, row) in variants.items()}
            if priced
            else {}
        ),
        revision=state.revision,
        voucher_code=state.voucher_code,
    )


# ---------------------------------------------------------------- writes


def _check_quantities(
    lines: Sequence[tuple[int, int]], *, minimum: int
) -> list[CartError]:
    problems = []
    if not lines:
        problems.append(
            CartError(ErrorCode.INVALID, "Give at least one line.", field="lines")
        )
    for index, (_, quantity) in enumerate(lines):
        if quantity < minimum or quantity > settings.CART_MAX_LINE_QUANTITY:
            problems.append(
                CartError(
                    ErrorCode.INVALID,
                    f"Quantity must be from {minimum} to "
                    f"{settings.CART_MAX_LINE_QUANTITY}.",
                    field=f"lines.{index}.quantity",
                )
            )
    return problems


def _check_stock(
    index: int, variant: int, wanted: int, stock: dict[int, tuple[int, Decimal]]
) -> CartError | None:
    if variant not in stock:
        return CartError(
            ErrorCode.NOT_FOUND,
            "This product is not for sale.",
            field=f"lines.{index}.variantId",
        )
    available = stock[variant][0]
    if available == 0:
        return CartError(
            ErrorCode.OUT_OF_STOCK,
            "This product is sold out.",
            field=f"lines.{index}.quantity",
        )
    if wanted > available:
        return CartError(
            ErrorCode.INSUFFICIENT_STOCK,
            f"Only {available} left.",
            field=f"lines.{index}.quantity",
        )
    if wanted > settings.CART_MAX_LINE_QUANTITY:
        return CartError(
            ErrorCode.INVALID,
            f"At most {settings.CART_MAX_LINE_QUANTITY} of one item per order.",
            field=f"lines.{index}.quantity",
        )
    return None


def _too_many_lines() -> CartError:
    return CartError(
        ErrorCode.INVALID,
        f"A cart holds at most {settings.CART_MAX_LINES} different items.",
        field="lines",
    )


def cart_lines_add(
    *, user, token: str | None, lines: Sequence[tuple[int, int]]
) -> CartSnapshot:
    """Add quantities to the cart, creating a guest cart (and token) if needed.

    Each line needs a published variant, quantity >= 1, and the quantity in the cart
    afterwards within stock and the per-line maximum. If any line fails, nothing
    changes and every failing line is reported.
    """
    problems = _check_quantities(lines, minimum=1)
    CartError.raise_any(problems)
    stock = _published_variants(variant for variant, _ in lines)
    for index, (variant, quantity) in enumerate(lines):
        problem = _check_stock(index, variant, quantity, stock)
        if problem:
            problems.append(problem)
    CartError.raise_any(problems)

    key = _cart_key(user=user, token=token)
    create = key is None or key.user_id is not None
    key = key or CartKey(token=store.new_guest_token())
    totals: dict[int, int] = {}
    first_index: dict[int, int] = {}
    for index, (variant, quantity) in enumerate(lines):
        totals[variant] = totals.get(variant, 0) + quantity
        first_index.setdefault(variant, index)
    caps = {v: min(stock[v][0], settings.CART_MAX_LINE_QUANTITY) for v in totals}
    reply = store.lines_add(
        key,
        [(v, quantity, caps[v]) for v, quantity in totals.items()],
        create=create,
        max_lines=settings.CART_MAX_LINES,
    )
    if reply[0] == "missing":
        raise CartError(ErrorCode.INVALID_TOKEN, TOKEN_UNKNOWN, field="token")
    if reply[0] == "too_many":
        raise _too_many_lines()
    if reply[0] == "over":
        for variant, current in zip(reply[1::2], reply[2::2], strict=True):
            variant, current = int(variant), int(current)
            index = first_index[variant]
            wanted = current + totals[variant]
            problems.append(_check_stock(index, variant, wanted, stock))
        CartError.raise_any([problem for problem in problems if problem is not None])
    return _snapshot(key, known=stock, state=store.written(reply))


def cart_lines_update(
    *, user, token: str | None, lines: Sequence[tuple[int, int]]
) -> CartSnapshot:
    """Set quantities; 0 removes the line. All lines pass, or nothing changes."""
    problems = _check_quantities(lines, minimum=0)
    seen: set[int] = set()
    for index, (variant, _) in enumerate(lines):
        if variant in seen:
            problems.append(
                CartError(
                    ErrorCode.INVALID,
                    "Each variant may appear once.",
                    field=f"lines.{index}.variantId",
                )
            )
        seen.add(variant)
    CartError.raise_any(problems)
    stock = _published_variants(v for v, quantity in lines if quantity > 0)
    for index, (variant, quantity) in enumerate(lines):
        if quantity > 0 and (problem := _check_stock(index, variant, quantity, stock)):
            problems.append(problem)
    CartError.raise_any(problems)
    key = _existing_key(user=user, token=token)
    reply = store.lines_set(
        key,
        lines,
        create=key.user_id is not None,
        max_lines=settings.CART_MAX_LINES,
    )
    if reply[0] == "too_many":
        raise _too_many_lines()
    _check_found(reply[0])
    return _snapshot(key, known=stock, state=store.written(reply))


def cart_lines_remove(
    *, user, token: str | None, variant_ids: Sequence[int]
) -> CartSnapshot:
    """Remove the lines of these variants (absent ones are ignored)."""
    key = _existing_key(user=user, token=token)
    if variant_ids:
        _check_found(
            store.lines_remove(key, variant_ids, create=key.user_id is not None)
        )
    return _snapshot(key)


def cart_clear(*, user, token: str | None) -> CartSnapshot:
    """Remove every line; a guest cart keeps its token."""
    key = _existing_key(user=user, token=token)
    _check_found(store.lines_clear(key, create=key.user_id is not None))
    return _snapshot(key)


def cart_checkout_lines(*, user, token: str | None) -> CartSnapshot:
    """The cart a checkout buys: the request's cart, its lines of published
    variants (may be empty), without prices: checkout prices them under its row
    locks with the sales running then, so reading the sales here too was waste.

    A guest must name it (REQUIRED / INVALID_TOKEN otherwise).
    """
    return _snapshot(_existing_key(user=user, token=token), priced=False)


def cart_purchased_remove(*, key: CartKey, quantities: dict[int, int]) -> None:
    """After a checkout commits: take what was bought out of the cart."""
    store.lines_subtract(key, quantities)


def _existing_key(*, user, token: str | None) -> CartKey:
    key = _cart_key(user=user, token=token)
    if key is None:
        raise CartError(
            ErrorCode.REQUIRED, "A guest cart needs its token.", field="token"
        )
    return key


def _check_found(outcome: str) -> None:
    if outcome == "missing":  # an unknown or expired guest token
        raise CartError(ErrorCode.INVALID_TOKEN, TOKEN_UNKNOWN, field="token")


# ---------------------------------------------------------------- vouchers


def _voucher_counters(key: CartKey, client_ip: str | None) -> list[tuple[str, int]]:
    # The cart by a digest of its key: a guest's token is a secret.
    cart = hashlib.sha256(key.redis_key.encode()).hexdigest()
    counters = [(f"throttle:voucher:cart:{cart}", settings.VOUCHER_FAILURES_PER_CART)]
    if client_ip:
        counters.append(
            (f"throttle:voucher:ip:{client_ip}", settings.VOUCHER_FAILURES_PER_IP)
        )
    return counters


def cart_voucher_apply(
    *, user, token: str | None, code: str, client_ip: str | None
) -> CartSnapshot:
    """Judge ``code`` against the cart now and keep it with the cart.

    Counted like a sign-in: each attempt takes a slot per cart and per client IP
    before the code is looked up, and a code that applies gives them back; at the
    limit (VOUCHER_FAILURES_PER_CART / _PER_IP per VOUCHER_FAILURE_WINDOW_SECONDS)
    every code, even a valid one, is refused with THROTTLED until the window ends.
    Refusals: CartError with the voucher's code (VOUCHER_INVALID, VOUCHER_EXPIRED,
    VOUCHER_USED_UP, VOUCHER_NOT_APPLICABLE: shop.discounts.vouchers), field
    "code"; the cart is unchanged.
    """
    from shop.orders.pricing import cart_items, voucher_lines

    key = _existing_key(user=user, token=token)
    counters = _voucher_counters(key, client_ip)
    try:
        attempt_take(
            counters,
            settings.VOUCHER_FAILURE_WINDOW_SECONDS,
            "wrong codes",
            field="code",
            error=CartError,
        )
    except ThrottleUnavailable as error:  # Redis, where carts live, is down
        raise CartUnavailable(str(error)) from error
    cart = _snapshot(key)
    try:
        voucher = voucher_find(code, field="code")
        voucher_judge(
            voucher,
            voucher_lines(cart_items(cart.quantities, cart.prices)),
            customer=Customer(user_id=key.user_id),
            field="code",
        )
    except DiscountError as error:
        raise CartError(error.code, error.message, field=error.field) from error
    attempts_give_back([counter for counter, _ in counters], "voucher")
    _check_found(store.voucher_set(key, voucher.code, create=key.user_id is not None))
    return _snapshot(key)


def cart_voucher_remove(*, user, token: str | None) -> CartSnapshot:
    """Take the voucher off the cart (nothing when it has none)."""
    key = _existing_key(user=user, token=token)
    _check_found(store.voucher_set(key, "", create=key.user_id is not None))
    return _snapshot(key)
