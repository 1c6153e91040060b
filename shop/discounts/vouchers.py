"""Voucher rules: finding a code, judging it against a cart, spreading its
discount over the lines, and counting its uses.

**Judging** (``voucher_judge``), in this order, each refusal a DiscountError:

- VOUCHER_INVALID: no such code, inactive, or not started yet. One message for
  all three, so a wrong guess learns nothing;
- VOUCHER_EXPIRED: its window has ended;
- VOUCHER_USED_UP: its total usage limit is reached, or this customer's (the
  signed-in user's uses, or the email's, compared without regard to case or a
  "+tag"). One message for both, naming nobody;
- VOUCHER_NOT_APPLICABLE: the cart's subtotal (at the prices paid) or its
  quantity is under the voucher's minimum, or nothing in the cart qualifies (not
  among its products or categories; on sale when it excludes sale items).

**The discount.** A percentage of the qualifying lines' amounts, rounded half-up
to the minor unit (never of shipping), or a fixed amount (at most those amounts),
spread over the qualifying lines in proportion to their amounts by largest
remainder (shop.orders.totals.allocate): the lines' parts add up to it exactly, and
tax is then computed per line on what is left. A free-shipping voucher makes the
shipping 0 and takes nothing off the lines.

**Uses.** Checkout takes a use in the transaction that takes the stock, under the
voucher's row lock (``voucher_locked``, after the variants' locks: every path
locks in that order): the limits are checked again under the lock, so racing
buyers for the last use give exactly one order. An order canceled unpaid (by the
buyer, staff or its expiry) gives its use back; a paid order keeps it, also when
refunded; an order revived by a late payment takes its use again (over the limit
if need be: the money is in).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db.models import F, Q
from django.db.models.functions import Upper
from django.utils import timezone

from shop.catalog.selectors import category_children, with_descendants
from shop.discounts.errors import DiscountError, ErrorCode
from shop.discounts.models import (
    CODE_MAX_LENGTH,
    Voucher,
    VoucherKind,
    VoucherUse,
    normalised_code,
)
from shop.orders.totals import allocate, minor_unit

HUNDRED = Decimal(100)
NOT_VALID = "This code is not valid."
USED_UP = "This code can no longer be used."


@dataclass(frozen=True)
class VoucherLine:
    """What a voucher reads of a cart line."""

    variant_id: int
    product_id: int
    category_id: int | None
    amount: Decimal  # unit price paid x quantity
    quantity: int
    on_sale: bool


def mailbox(email: str) -> str:
    """An email as the per-customer limit compares it: case and a "+tag" do not
    make another customer (Ada+2@Example.com is ada@example.com)."""
    local, _, domain = email.strip().lower().rpartition("@")
    return f"{local.split('+', 1)[0]}@{domain}" if local else ""


@dataclass(frozen=True)
class Customer:
    """Who would use the voucher: a user, an email (a guest's, or the user's), or
    neither (a guest cart before checkout: the per-customer limit waits)."""

    user_id: int | None = None
    email: str = ""

    @property
    def known(self) -> bool:
        return self.user_id is not None or bool(self.email)

    @property
    def mailbox(self) -> str:
        return mailbox(self.email) if self.email else ""


@dataclass(frozen=True)
class VoucherOutcome:
    voucher: Voucher
    discounts: dict[int, Decimal]  # variant id -> what comes off its line
    free_shipping: bool

    @property
    def total(self) -> Decimal:
        return sum(self.discounts.values(), Decimal(0))


def voucher_find(code: str | None, *, field: str, lock: bool = False) -> Voucher:
    """The voucher with ``code`` (any case); VOUCHER_INVALID when there is none.
    ``lock``: under its row lock, for checkout (inside its transaction)."""
    code = normalised_code(code)
    voucher = None
    # A code no voucher can have (too long, a NUL or another control character,
    # which PostgreSQL would refuse) is not looked up.
    if code and len(code) <= CODE_MAX_LENGTH and code.isprintable():
        # UPPER(code): what the unique index holds, so the lookup uses it.
        vouchers = Voucher.objects.alias(upper_code=Upper("code")).filter(
            upper_code=code
        )
        if lock:
            vouchers = vouchers.select_for_update()
        voucher = vouchers.first()
    if voucher is None:
        raise DiscountError(ErrorCode.VOUCHER_INVALID, NOT_VALID, field=field)
    return voucher


def uses_by(voucher: Voucher, customer: Customer) -> int:
    """The orders of this customer holding a use of the voucher."""
    same = Q()
    if customer.user_id is not None:
        same |= Q(user_id=customer.user_id)
    if customer.mailbox:
        same |= Q(email=customer.mailbox)
    return VoucherUse.objects.filter(same, voucher=voucher).count() if same else 0


def voucher_judge(
    voucher: Voucher,
    lines: Sequence[VoucherLine],
    *,
    customer: Customer,
    field: str,
    at: datetime | None = None,
) -> VoucherOutcome:
    """What ``voucher`` takes off ``lines`` now; DiscountError when it does not
    apply (see the module)."""
    at = at or timezone.now()
    if not voucher.is_active or (voucher.starts_at and at < voucher.starts_at):
        raise DiscountError(ErrorCode.VOUCHER_INVALID, NOT_VALID, field=field)
    if voucher.ends_at and at >= voucher.ends_at:
        raise DiscountError(
            ErrorCode.VOUCHER_EXPIRED, "This code has expired.", field=field
        )
    used_up = voucher.usage_limit is not None and voucher.used >= voucher.usage_limit
    if not used_up and voucher.per_customer_limit is not None and customer.known:
        used_up = uses_by(voucher, customer) >= voucher.per_customer_limit
    if used_up:
        raise DiscountError(ErrorCode.VOUCHER_USED_UP, USED_UP, field=field)

    subtotal = sum((line.amount for line in lines), Decimal(0))
    if voucher.minimum_subtotal is not None and subtotal < voucher.minimum_subtotal:
        raise DiscountError(
            ErrorCode.VOUCHER_NOT_APPLICABLE,
            f"This code needs a subtotal of at least {voucher.minimum_subtotal} "
            f"{settings.SHOP_CURRENCY}.",
            field=field,
        )
    quantity = sum(line.quantity for line in lines)
    if voucher.minimum_quantity is not None and quantity < voucher.minimum_quantity:
        raise DiscountError(
            ErrorCode.VOUCHER_NOT_APPLICABLE,
            f"This code needs at least {voucher.minimum_quantity} items in the cart.",
            field=field,
        )
    qualifying = _qualifying(voucher, lines)
    if not qualifying:
        raise DiscountError(
            ErrorCode.VOUCHER_NOT_APPLICABLE,
            "Nothing in the cart qualifies for this code.",
            field=field,
        )
    if voucher.kind == VoucherKind.FREE_SHIPPING:
        return VoucherOutcome(voucher, {}, free_shipping=True)
    currency = settings.SHOP_CURRENCY
    amounts = [line.amount for line in qualifying]
    if voucher.kind == VoucherKind.PERCENTAGE:
        wanted = (sum(amounts, Decimal(0)) * voucher.value / HUNDRED).quantize(
            minor_unit(currency), rounding=ROUND_HALF_UP
        )
    else:
        wanted = voucher.value
    parts = allocate(wanted, amounts, currency)
    return VoucherOutcome(
        voucher,
        {line.variant_id: part for line, part in zip(qualifying, parts, strict=True)},
        free_shipping=False,
    )


def _qualifying(voucher: Voucher, lines: Sequence[VoucherLine]) -> list[VoucherLine]:
    lines = [line for line in lines if line.amount > 0]
    if not voucher.applies_to_sale_items:
        lines = [line for line in lines if not line.on_sale]
    products = set(voucher.products.values_list("pk", flat=True))
    chosen = set(voucher.categories.values_list("pk", flat=True))
    if not products and not chosen:
        return lines
    categories = with_descendants(chosen, category_children()) if chosen else set()
    return [
        line
        for line in lines
        if line.product_id in products
        or (line.category_id is not None and line.category_id in categories)
    ]


# ---------------------------------------------------------------- uses


def voucher_use_take(
    voucher: Voucher, *, order_id: int, customer: Customer
) -> VoucherUse:
    """Record the order's use of ``voucher`` (locked and judged by the caller, in
    the same transaction)."""
    use = VoucherUse.objects.create(
        voucher=voucher,
        order_id=order_id,
        user_id=customer.user_id,
        email=customer.mailbox,
    )
    Voucher.objects.filter(pk=voucher.pk).update(used=F("used") + 1)
    return use


def voucher_use_return(*, order_id: int) -> bool:
    """An order canceled unpaid gives its use back (in its transaction); False
    when it held none."""
    use = VoucherUse.objects.select_for_update().filter(order_id=order_id).first()
    if use is None:
        return False
    Voucher.objects.filter(pk=use.voucher_id, used__gt=0).update(used=F("used") - 1)
    use.delete()
    return True


def voucher_use_retake(*, order_id: int, code: str, user_id: int | None, email: str):
    """An order revived by a late payment takes its voucher's use again, whatever
    the limits say (the money is in); nothing if the voucher is gone."""
    if not code or VoucherUse.objects.filter(order_id=order_id).exists():
        return
    voucher = Voucher.objects.select_for_update().filter(code=code).first()
    if voucher is not None:
        voucher_use_take(voucher, order_id=order_id, customer=Customer(user_id, email))
