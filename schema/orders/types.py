"""Order types."""

from datetime import datetime

import strawberry
import strawberry_django
from django.db.models import QuerySet
from strawberry import relay
from strawberry.types import Info

from schema.catalog.types import ProductVariantType
from schema.common import Money
from schema.context import current_user, order_grants
from schema.errors import UserError
from schema.optimizing import keeping_columns
from shop.orders.models import CancelReason, Order, OrderLine
from shop.orders.models import OrderStatus as OrderStatusChoices
from shop.orders.selectors import order_list

OrderStatus = strawberry.enum(
    OrderStatusChoices,
    name="OrderStatus",
    description="Where an order is: PENDING_PAYMENT -> PAID -> FULFILLED; "
    "CANCELED and REFUNDED end it.",
)

OrderCancelReason = strawberry.enum(
    CancelReason,
    name="OrderCancelReason",
    description="Who or what canceled an order. BUYER and STAFF are final: a "
    "payment that still arrives is refunded. UNPAID (not paid in time): a payment "
    "that still arrives fills the order if its items are still in stock.",
)


@strawberry.type(name="Address", description="A postal address.")
class AddressType:
    name: str
    line1: str
    line2: str | None
    city: str
    postal_code: str
    country: str = strawberry.field(description="ISO 3166-1 alpha-2, e.g. US.")


@strawberry.input(description="A postal address.")
class AddressInput:
    name: str
    line1: str
    city: str
    postal_code: str
    country: str = strawberry.field(description="ISO 3166-1 alpha-2, e.g. US.")
    line2: str | None = None


@strawberry_django.type(
    OrderLine,
    name="OrderLine",
    description="One bought item, with its name and price as at purchase.",
)
class OrderLineType:
    variant: ProductVariantType | None = strawberry_django.field(
        description="The variant, while it still exists and is published."
    )
    sku: strawberry.auto
    product_name: strawberry.auto
    variant_name: strawberry.auto
    quantity: int

    @strawberry_django.field(
        only=["unit_price", "order__currency"],
        select_related=["order"],
        description="The price paid for one (a running sale's, if any).",
    )
    def unit_price(self, root: OrderLine) -> Money:
        return Money(amount=root.unit_price, currency=root.order.currency)

    @strawberry_django.field(
        only=["discount", "order__currency"],
        select_related=["order"],
        description="The line's share of the voucher's discount (0 without one): "
        "the lines' shares add up to Order.discount.",
    )
    def discount(self, root: OrderLine) -> Money:
        return Money(amount=root.discount, currency=root.order.currency)

    @strawberry_django.field(
        only=["unit_price", "quantity", "order__currency"],
        select_related=["order"],
        description="quantity x unitPrice.",
    )
    def total(self, root: OrderLine) -> Money:
        return Money(amount=root.total, currency=root.order.currency)


def _order_money(column: str, description: str):
    """An amount column of the order, in the order's currency."""

    def resolve(root: Order) -> Money:
        return Money(amount=getattr(root, column), currency=root.currency)

    return strawberry_django.field(
        resolver=resolve, only=[column, "currency"], description=description
    )


@strawberry_django.type(Order, name="Order", description="A placed order.")
class OrderType(relay.Node):
    number: str = strawberry_django.field(description="Quote it to the shop.")
    token: str = strawberry_django.field(
        description="Secret: lets a guest read (order(token:)) and follow the order."
    )
    status: OrderStatus
    email: strawberry.auto
    lines: list[OrderLineType]
    reserved_until: datetime = strawberry_django.field(
        description="While PENDING_PAYMENT: the stock is held until then; a "
        "Checkout Session extends it to its own expiry. Later, an unpaid order "
        "is canceled."
    )
    created_at: datetime
    updated_at: datetime

    @classmethod
    def get_queryset(cls, queryset: QuerySet, info: Info, **kwargs) -> QuerySet:
        orders = order_list(
            user=current_user(info), orders=queryset, also=order_grants(info)
        )
        # A page of User.orders builds its cursors from created_at: without it
        # in every row, one query per order.
        return keeping_columns(orders, ("created_at",))

    @strawberry_django.field(
        only=["cancel_reason"],
        description="Who or what canceled the order; null unless it was canceled "
        "(or when it was canceled before reasons were recorded).",
    )
    def cancel_reason(self, root: Order) -> OrderCancelReason | None:
        return CancelReason(root.cancel_reason) if root.cancel_reason else None

    total: Money = _order_money(
        "total",
        "What the buyer pays (what Stripe charges, to the minor unit): "
        "subtotal - discount + shippingPrice, plus tax when prices exclude it.",
    )
    subtotal: Money = _order_money("subtotal", "The lines at their prices.")
    discount: Money = _order_money("discount", "What discounts took off.")
    shipping_price: Money = _order_money("shipping_price", "What shipping cost.")
    tax: Money = _order_money(
        "tax",
        "The tax: inside the prices, or added to them, as the shop was "
        "configured when the order was placed.",
    )

    @strawberry_django.field(
        only=["shipping_method_name"],
        description="The shipping method chosen; null when shipped without one.",
    )
    def shipping_method_name(self, root: Order) -> str | None:
        return root.shipping_method_name or None

    @strawberry_django.field(
        only=["voucher_code"],
        description="The voucher used (upper-case); null when none.",
    )
    def voucher_code(self, root: Order) -> str | None:
        return root.voucher_code or None

    @strawberry_django.field(
        only=[
            "shipping_name",
            "shipping_line1",
            "shipping_line2",
            "shipping_city",
            "shipping_postal_code",
            "shipping_country",
        ],
        description="Where it goes.",
    )
    def shipping_address(self, root: Order) -> AddressType | None:
        return AddressType(
            name=root.shipping_name,
            line1=root.shipping_line1,
            line2=root.shipping_line2 or None,
            city=root.shipping_city,
            postal_code=root.shipping_postal_code,
            country=root.shipping_country,
        )


@strawberry.input(description="What checkout needs besides the cart.")
class CheckoutInput:
    shipping_address: AddressInput
    cart_token: str | None = strawberry.field(
        default=None, description="The guest cart's token; required for guests."
    )
    email: str | None = strawberry.field(
        default=None, description="Required for guests; a user's defaults to theirs."
    )
    idempotency_key: str | None = strawberry.field(
        default=None,
        description="The same key from the same buyer returns the same order.",
    )
    shipping_method_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="Required when any method ships to the address's country "
        "(Query.shippingMethods).",
    )
    voucher_code: str | None = strawberry.field(
        default=None,
        description="A voucher code; null: the cart's voucher (cartVoucherApply), "
        'if any; "": none.',
    )


def granted_order(info: Info, order_id: int | None) -> QuerySet | None:
    """The order ``order_id`` as an optimizable queryset this request may read."""
    if order_id is None:
        return None
    order_grants(info).add(order_id)
    return Order.objects.filter(pk=order_id)


@strawberry.type(description="The result of checkout.")
class CheckoutPayload:
    order_id: strawberry.Private[int | None] = None
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why no order was placed."
    )

    @strawberry_django.field(
        description="The new order (PENDING_PAYMENT); null on errors."
    )
    def order(self, info: Info) -> OrderType | None:
        return granted_order(info, self.order_id)


@strawberry.type(description="An order after a change, or why nothing changed.")
class OrderPayload:
    order_id: strawberry.Private[int | None] = None
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why nothing changed."
    )

    @strawberry_django.field(description="The order; null on errors.")
    def order(self, info: Info) -> OrderType | None:
        return granted_order(info, self.order_id)
