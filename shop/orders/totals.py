"""What an order costs: one function for the cart's estimate and for checkout.

``order_totals`` takes priced lines (a unit price, a quantity, the tax rate of the
line's tax class at the destination, and what a discount takes off the line), the
shipping price and its tax rate (the destination's standard rate), and whether the
shop's prices include tax. It is pure: the callers look up prices, rates and the
shipping method; the same inputs always give the same money.

The rule, to the currency's minor unit (cents; yen have none):

- each line's amount is its unit price times its quantity; its discount comes off
  that amount;
- tax is computed per line on the amount after its discount, and on the shipping
  price, each rounded half-up to the minor unit:
  - prices include tax (EU style, the default): the tax in a gross amount ``g`` at
    rate ``r`` percent is ``g * r / (100 + r)``; what the buyer pays is the shelf
    price, whatever the destination;
  - prices exclude tax (US style): the tax on a net amount ``n`` is ``n * r / 100``
    and is added;
- ``subtotal`` is the lines' amounts, ``discount`` their discounts, ``tax`` the
  lines' taxes plus the shipping's, and the total is ``subtotal - discount +
  shipping``, plus ``tax`` when prices exclude it.

Every part is a whole number of minor units and the total is their sum, so the
parts always add up to the total (no separate rounding of sums).
"""

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from shop.payments.money import minor_unit_exponent

HUNDRED = Decimal(100)


@dataclass(frozen=True)
class PricedLine:
    """One cart or order line as the totals see it."""

    key: Hashable  # the variant's id, to find the line again
    unit_price: Decimal
    quantity: int
    tax_rate: Decimal  # percent: Decimal("20") for 20%
    discount: Decimal = Decimal(0)  # taken off the line's amount


@dataclass(frozen=True)
class LineTotals:
    key: Hashable
    amount: Decimal  # unit price x quantity
    discount: Decimal
    tax_rate: Decimal
    tax: Decimal  # on amount - discount (included in it, or added)


@dataclass(frozen=True)
class Totals:
    subtotal: Decimal
    discount: Decimal
    shipping: Decimal
    tax: Decimal  # the lines' and the shipping's
    total: Decimal
    shipping_tax: Decimal
    shipping_tax_rate: Decimal
    prices_include_tax: bool
    lines: tuple[LineTotals, ...]


def minor_unit(currency: str) -> Decimal:
    """The currency's smallest amount: 0.01 for USD, 1 for JPY."""
    return Decimal(1).scaleb(-minor_unit_exponent(currency))


def tax_of(amount: Decimal, rate: Decimal, *, included: bool, unit: Decimal) -> Decimal:
    """The tax in (``included``) or on ``amount`` at ``rate`` percent, rounded
    half-up to ``unit``."""
    if not rate:
        return Decimal(0).quantize(unit)
    exact = amount * rate / (HUNDRED + rate) if included else amount * rate / HUNDRED
    return exact.quantize(unit, rounding=ROUND_HALF_UP)


def order_totals(
    lines: Sequence[PricedLine],
    *,
    shipping: Decimal,
    shipping_tax_rate: Decimal,
    prices_include_tax: bool,
    currency: str,
) -> Totals:
    """The totals of ``lines`` shipped for ``shipping`` (see the module's rule).
    Raises ValueError for an amount finer than the currency's minor unit, a
    negative one, or a discount larger than its line."""
    unit = minor_unit(currency)

    def exact(value: Decimal, what: str) -> Decimal:
        value = Decimal(value)
        if value < 0 or value != value.quantize(unit):
            raise ValueError(f"{what} {value} is not an amount in {currency}.")
        return value.quantize(unit)

    priced = []
    for line in lines:
        if line.quantity < 0 or line.tax_rate < 0:
            raise ValueError(f"Line {line.key!r}: a negative quantity or rate.")
        amount = exact(line.unit_price, "The unit price") * line.quantity
        discount = exact(line.discount, "The discount")
        if discount > amount:
            raise ValueError(f"Line {line.key!r}: a discount over its amount.")
        tax = tax_of(
            amount - discount, line.tax_rate, included=prices_include_tax, unit=unit
        )
        priced.append(LineTotals(line.key, amount, discount, line.tax_rate, tax))
    shipping = exact(shipping, "The shipping price")
    if shipping_tax_rate < 0:
        raise ValueError("A negative shipping tax rate.")
    shipping_tax = tax_of(
        shipping, shipping_tax_rate, included=prices_include_tax, unit=unit
    )
    zero = Decimal(0).quantize(unit)
    subtotal = sum((line.amount for line in priced), start=zero)
    discount = sum((line.discount for line in priced), start=zero)
    tax = sum((line.tax for line in priced), start=shipping_tax)
    total = subtotal - discount + shipping
    if not prices_include_tax:
        total += tax
    return Totals(
        subtotal=subtotal,
        discount=discount,
        shipping=shipping,
        tax=tax,
        total=total,
        shipping_tax=shipping_tax,
        shipping_tax_rate=Decimal(shipping_tax_rate),
        prices_include_tax=prices_include_tax,
        lines=tuple(priced),
    )


def allocate(
    discount: Decimal, amounts: Sequence[Decimal], currency: str
) -> list[Decimal]:
    """Spread ``discount`` over lines of ``amounts`` in proportion to them, in
    whole minor units, so that the parts add up to it exactly and no line gets
    more than its amount (largest remainders get the leftover units; ties go to
    the earlier line). A discount over the amounts' sum is cut to it. For a
    voucher's discount over the lines it applies to; tax then follows per line."""
    unit = minor_unit(currency)
    units = [int(Decimal(amount) / unit) for amount in amounts]
    total = sum(units)
    wanted = min(int((Decimal(discount) / unit).to_integral_value()), total)
    if wanted <= 0 or total == 0:
        return [Decimal(0).quantize(unit) for _ in amounts]
    shares = [wanted * part // total for part in units]
    remainders = [wanted * part % total for part in units]
    left = wanted - sum(shares)
    for index in sorted(range(len(units)), key=lambda i: (-remainders[i], i))[:left]:
        shares[index] += 1
    return [(Decimal(share) * unit).quantize(unit) for share in shares]
