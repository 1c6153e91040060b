"""Amounts as Stripe counts them: integers in the currency's minor unit."""

from decimal import Decimal

# fmt: off
# Stripe's zero-decimal currencies: 500 JPY is sent as 500.
ZERO_DECIMAL = frozenset({
    "BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA",
    "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF",
})
# Three-decimal currencies: 5.124 KWD is sent as 5124.
THREE_DECIMAL = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})
# fmt: on


def minor_unit_exponent(currency: str) -> int:
    """How many decimal places the currency's minor unit has (USD 2, JPY 0)."""
    code = currency.upper()
    if code in ZERO_DECIMAL:
        return 0
    if code in THREE_DECIMAL:
        return 3
    return 2


def to_minor_units(amount: Decimal, currency: str) -> int:
    """``amount`` in minor units (9.99 USD -> 999); ValueError if it has more
    precision than the currency allows (0.5 JPY)."""
    scaled = Decimal(amount).scaleb(minor_unit_exponent(currency))
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{amount} cannot be expressed in {currency.upper()}.")
    return int(scaled)
