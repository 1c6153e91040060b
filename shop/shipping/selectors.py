"""Which shipping methods ship a cart to a country, and at what price."""

from dataclasses import dataclass
from decimal import Decimal

from shop.shipping.models import ShippingMethod


@dataclass(frozen=True)
class CartMeasure:
    """What shipping conditions read of a cart."""

    subtotal: Decimal  # after discounts
    weight_grams: int


@dataclass(frozen=True)
class ShippingQuote:
    method: ShippingMethod
    price: Decimal  # 0 above the method's free-above threshold


def methods_to(country: str) -> list[ShippingMethod]:
    """Active methods whose zone holds ``country`` (an ISO 3166 code), cheapest
    first by list price. One query: a zone's countries are stored as "GB,IE,..."
    (two letters each, comma-separated), so a two-letter substring can only be a
    whole code."""
    code = country.upper()
    if len(code) != 2 or not code.isalpha():
        return []
    return list(
        ShippingMethod.objects.filter(is_active=True, zone__countries__contains=code)
    )


def quote(method: ShippingMethod, cart: CartMeasure) -> ShippingQuote | None:
    """The method's price for this cart, or None when it does not take it (a
    subtotal outside its range, a weight over its limit)."""
    if method.minimum_subtotal is not None and cart.subtotal < method.minimum_subtotal:
        return None
    if method.maximum_subtotal is not None and cart.subtotal > method.maximum_subtotal:
        return None
    if (
        method.maximum_weight_grams is not None
        and cart.weight_grams > method.maximum_weight_grams
    ):
        return None
    free = method.free_above is not None and cart.subtotal >= method.free_above
    return ShippingQuote(method, Decimal("0.00") if free else method.price)


def quotes(
    country: str,
    cart: CartMeasure | None,
    methods: list[ShippingMethod] | None = None,
) -> list[ShippingQuote]:
    """What ships to ``country`` (for this cart, when given: its conditions and
    free-above thresholds apply), cheapest first, then by name. ``methods``: the
    country's methods when the caller has them already (``methods_to``)."""
    found = []
    for method in methods_to(country) if methods is None else methods:
        if cart is None:
            found.append(ShippingQuote(method, method.price))
        elif (priced := quote(method, cart)) is not None:
            found.append(priced)
    return sorted(found, key=lambda q: (q.price, q.method.name, q.method.pk))
