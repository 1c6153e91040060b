"""What a cart costs shipped to a country: the one path from a cart to its totals,
for the cart's estimate and for checkout (shop.orders.totals has the arithmetic).

The order of things: the lines at the prices paid now (sales included: the cart
prices them with shop.discounts.sales), then the voucher's discount on them, then
the shipping for the subtotal after that discount (a free-shipping voucher makes
it 0), then tax per line on what is left.
"""

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from django.conf import settings
from django_countries import countries

from shop.discounts.errors import DiscountError
from shop.discounts.models import Voucher
from shop.discounts.vouchers import (
    Customer,
    VoucherLine,
    VoucherOutcome,
    voucher_find,
    voucher_judge,
)
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
    unit_price: Decimal  # what the buyer pays now (a sale's price, if any)
    quantity: int
    tax_class_id: int | None  # the product's; None: standard
    weight_grams: int | None  # None: weighs nothing
    product_id: int = 0
    category_id: int | None = None
    regular_price: Decimal | None = None  # before a sale; None: as unit_price

    @property
    def on_sale(self) -> bool:
        return self.regular_price is not None and self.unit_price < self.regular_price

    @property
    def amount(self) -> Decimal:
        return self.unit_price * self.quantity


@dataclass(frozen=True)
class Priced:
    totals: Totals
    method: ShippingMethod | None  # None: shipped without a charge
    # Whether any method ships to the country at all (then checkout needs one).
    shipping_required: bool
    voucher: VoucherOutcome | None = None


def cart_items(
    quantities: dict[int, int], prices: dict[int, Decimal]
) -> list[CartItem]:
    """A cart's lines (variant id -> quantity, at ``prices``: what the buyer pays
    now) with what pricing reads of their variants, in one query. Variants gone
    since are left out."""
    from shop.catalog.models import ProductVariant

    found = ProductVariant.objects.filter(pk__in=list(quantities)).values_list(
        "pk",
        "product__tax_class_id",
        "weight_grams",
        "product_id",
        "product__category_id",
        "price",
    )
    details = {row[0]: row[1:] for row in found}
    return [
        CartItem(
            variant_id=variant_id,
            unit_price=prices[variant_id],
            quantity=quantity,
            tax_class_id=details[variant_id][0],
            weight_grams=details[variant_id][1],
            product_id=details[variant_id][2],
            category_id=details[variant_id][3],
            regular_price=details[variant_id][4],
        )
        for variant_id, quantity in quantities.items()
        if variant_id in details and variant_id in prices
    ]


def cart_measure(
    items: Sequence[CartItem], discount: Decimal = Decimal(0)
) -> CartMeasure:
    """What shipping conditions read of the items: the subtotal after the
    voucher's ``discount``, and the weight."""
    return CartMeasure(
        subtotal=sum((item.amount for item in items), Decimal(0)) - discount,
        weight_grams=sum((item.weight_grams or 0) * item.quantity for item in items),
    )


def voucher_lines(items: Sequence[CartItem]) -> list[VoucherLine]:
    return [
        VoucherLine(
            variant_id=item.variant_id,
            product_id=item.product_id,
            category_id=item.category_id,
            amount=item.amount,
            quantity=item.quantity,
            on_sale=item.on_sale,
        )
        for item in items
    ]


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
    voucher: Voucher | None = None,
    customer: Customer | None = None,
    voucher_field: str = "voucherCode",
) -> Priced:
    """The totals of ``items`` shipped to ``country`` by the method given, with
    ``voucher`` (judged for ``customer``: DiscountError when it does not apply).

    Without a method: no shipping charge; with ``require_method`` (checkout) that
    is refused (REQUIRED, field shippingMethodId) when some method ships to the
    country. A method that does not ship there, or not this cart (its subtotal or
    weight conditions), is refused with SHIPPING_UNAVAILABLE."""
    country = country_checked(country)
    rates = country_rates(country)
    outcome = None
    if voucher is not None:
        outcome = voucher_judge(
            voucher,
            voucher_lines(items),
            customer=customer or Customer(),
            field=voucher_field,
        )
    discounts = outcome.discounts if outcome else {}
    lines = [
        PricedLine(
            key=item.variant_id,
            unit_price=item.unit_price,
            quantity=item.quantity,
            tax_rate=rates.of(item.tax_class_id),
            discount=discounts.get(item.variant_id, Decimal(0)),
        )
        for item in items
    ]
    measure = cart_measure(items, outcome.total if outcome else Decimal(0))
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
        if outcome is not None and outcome.free_shipping:
            shipping = Decimal(0)
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
    return Priced(totals, method, shipping_required, outcome)


def shipping_choices(country: str, cart: "CartSnapshot | None") -> list[ShippingMethod]:
    """What ships to ``country`` (OrderError INVALID for a code that is none),
    cheapest first; with a cart, only the methods that take it. Each method's
    ``quoted_price`` is its price (for the cart: 0 above its free threshold)."""
    code = country_checked(country)
    measure, outcome = None, None
    if cart is not None:
        items = cart_items(cart.quantities, cart.prices)
        outcome = cart_voucher(cart, items)
        measure = cart_measure(items, outcome.total if outcome else Decimal(0))
    found = []
    for quote in quotes(code, measure):
        free = outcome is not None and outcome.free_shipping
        quote.method.quoted_price = Decimal("0.00") if free else quote.price
        found.append(quote.method)
    return found


def cart_voucher(
    cart: "CartSnapshot", items: Sequence[CartItem]
) -> VoucherOutcome | None:
    """What the cart's voucher takes off now; None without one, or when it no
    longer applies (the estimate then shows no discount, and checkout refuses the
    voucher with its reason: cartVoucherApply tells it too)."""
    if not cart.voucher_code:
        return None
    try:
        voucher = voucher_find(cart.voucher_code, field="code")
        return voucher_judge(
            voucher,
            voucher_lines(items),
            customer=Customer(user_id=cart.key.user_id),
            field="code",
        )
    except DiscountError:
        return None


def cart_estimate(
    cart: "CartSnapshot", *, country: str, shipping_method_id: int | None
) -> Totals:
    """What checkout would charge for the cart now, with its voucher (without a
    method: without shipping); OrderError as ``price_cart`` refuses."""
    items = cart_items(cart.quantities, cart.prices)
    priced = functools.partial(
        price_cart,
        items,
        country=country,
        shipping_method_id=shipping_method_id,
        require_method=False,
        customer=Customer(user_id=cart.key.user_id),
        voucher_field="code",
    )
    if cart.voucher_code:
        try:
            return priced(voucher=voucher_find(cart.voucher_code, field="code")).totals
        except DiscountError:
            pass  # no longer applies: see cart_voucher
    return priced().totals
