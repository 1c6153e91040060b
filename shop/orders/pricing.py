"""What a cart costs shipped to a country: the one path from a cart to its totals,
for the cart's estimate and for checkout (shop.orders.totals has the arithmetic).
"""

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from django.conf import settings
from django_countries import countries

from shop.orders.errors import ErrorCode, OrderError
from shop.orders.totals import PricedLine, Totals, order_totals
from shop.shipping.models import ShippingMethod
from shop.shipping.selectors import CartMeasure, methods_to, quotes
from shop.taxes.selectors import country_rates

if TYPE_CHECKING:
    from shop.cart.services import CartSnapshot


@dataclass(frozen=True)
class CartItem:
    """A cart line with what pricing reads of its variant."""

    variant_id: int
    unit_price: Decimal
    quantity: int
    tax_class_id: int | None  # the product's; None: standard
    weight_grams: int | None  # None: weighs nothing


@dataclass(frozen=True)
class Priced:
    totals: Totals
    method: ShippingMethod | None  # None: shipped without a charge
    # Whether any method ships to the country at all (then checkout needs one).
    shipping_required: bool


def cart_items(
    quantities: dict[int, int], prices: dict[int, Decimal]
) -> list[CartItem]:
    """A cart's lines (variant id -> quantity, at ``prices``) with their products'
    tax classes and their weights, in one query. Variants gone since are left out."""
    from shop.catalog.models import ProductVariant

    found = ProductVariant.objects.filter(pk__in=list(quantities)).values_list(
        "pk", "product__tax_class_id", "weight_grams"
    )
    details = {pk: (tax_class, weight) for pk, tax_class, weight in found}
    return [
        CartItem(
            variant_id=variant_id,
            unit_price=prices[variant_id],
            quantity=quantity,
            tax_class_id=details[variant_id][0],
            weight_grams=details[variant_id][1],
        )
        for variant_id, quantity in quantities.items()
        if variant_id in details and variant_id in prices
    ]


def cart_measure(items: Sequence[CartItem]) -> CartMeasure:
    """What shipping conditions read of the items (no discounts yet)."""
    return CartMeasure(
        subtotal=sum((item.unit_price * item.quantity for item in items), Decimal(0)),
        weight_grams=sum((item.weight_grams or 0) * item.quantity for item in items),
    )


@functools.cache
def _country_codes() -> frozenset[str]:
    # Building ``dict(countries)`` translates every name: once per process.
    return frozenset(code for code, _name in countries)


def is_country_code(code: str) -> bool:
    """Whether ``code`` is an ISO 3166-1 alpha-2 code (upper case)."""
    return code in _country_codes()


def country_checked(country: str | None, *, field: str = "country") -> str:
    """An ISO 3166-1 alpha-2 code, upper-cased; OrderError INVALID otherwise."""
    code = (country or "").strip().upper()
    if not is_country_code(code):
        raise OrderError(
            ErrorCode.INVALID, "Give a country as an ISO 3166 code.", field=field
        )
    return code


def price_cart(
    items: Sequence[CartItem],
    *,
    country: str,
    shipping_method_id: int | None,
    require_method: bool,
) -> Priced:
    """The totals of ``items`` shipped to ``country`` by the method given.

    Without a method: no shipping charge; with ``require_method`` (checkout) that
    is refused (REQUIRED, field shippingMethodId) when some method ships to the
    country. A method that does not ship there, or not this cart (its subtotal or
    weight conditions), is refused with SHIPPING_UNAVAILABLE."""
    country = country_checked(country)
    rates = country_rates(country)
    lines = [
        PricedLine(
            key=item.variant_id,
            unit_price=item.unit_price,
            quantity=item.quantity,
            tax_rate=rates.of(item.tax_class_id),
        )
        for item in items
    ]
    measure = cart_measure(items)
    methods = methods_to(country)
    shipping_required = bool(methods)
    method, shipping = None, Decimal(0)
    if shipping_method_id is not None:
        quote = next(
            (
                q
                for q in quotes(country, measure, methods)
                if q.method.pk == shipping_method_id
            ),
            None,
        )
        if quote is None:
            raise OrderError(
                ErrorCode.SHIPPING_UNAVAILABLE,
                "This shipping method does not ship this cart to that country.",
                field="shippingMethodId",
            )
        method, shipping = quote.method, quote.price
    elif require_method and shipping_required:
        raise OrderError(
            ErrorCode.REQUIRED,
            "Choose a shipping method (Query.shippingMethods lists them).",
            field="shippingMethodId",
        )
    try:
        totals = order_totals(
            lines,
            shipping=shipping,
            shipping_tax_rate=rates.standard,
            prices_include_tax=settings.PRICES_INCLUDE_TAX,
            currency=settings.SHOP_CURRENCY,
        )
    except ValueError as error:  # a price SHOP_CURRENCY cannot express (0.50 JPY)
        raise OrderError(ErrorCode.INVALID, str(error), field="lines") from error
    return Priced(totals, method, shipping_required)


def shipping_choices(country: str, cart: "CartSnapshot | None") -> list[ShippingMethod]:
    """What ships to ``country`` (OrderError INVALID for a code that is none),
    cheapest first; with a cart, only the methods that take it. Each method's
    ``quoted_price`` is its price (for the cart: 0 above its free threshold)."""
    code = country_checked(country)
    measure = (
        None if cart is None else cart_measure(cart_items(cart.quantities, cart.prices))
    )
    found = []
    for quote in quotes(code, measure):
        quote.method.quoted_price = quote.price
        found.append(quote.method)
    return found


def cart_estimate(
    cart: "CartSnapshot", *, country: str, shipping_method_id: int | None
) -> Totals:
    """What checkout would charge for the cart now (without a method: without
    shipping); OrderError as ``price_cart`` refuses."""
    return price_cart(
        cart_items(cart.quantities, cart.prices),
        country=country,
        shipping_method_id=shipping_method_id,
        require_method=False,
    ).totals
