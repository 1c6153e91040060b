"""Shipping methods and a cart's totals."""

import strawberry
import strawberry_django
from strawberry import relay

from schema.common import Money
from shop.orders.totals import Totals
from shop.shipping.models import ShippingMethod


@strawberry_django.type(
    ShippingMethod,
    name="ShippingMethod",
    description="A way to ship to an address's country, with its price.",
)
class ShippingMethodType(relay.Node):
    name: str = strawberry_django.field(description="What the buyer sees.")
    minimum_delivery_days: int | None = strawberry_django.field(
        description="Business days, at the soonest; null when not said."
    )
    maximum_delivery_days: int | None = strawberry_django.field(
        description="Business days, at the latest; null when not said."
    )

    @strawberry_django.field(
        only=["price"],
        description="What it costs (for the cart asked about: 0 above the "
        "method's free-shipping threshold).",
    )
    def price(self, root: ShippingMethod) -> Money:
        return Money.of(getattr(root, "quoted_price", root.price))


@strawberry.type(
    name="CartTotals",
    description="Exactly what checkout would charge now for this country and method.",
)
class CartTotalsType:
    totals: strawberry.Private[Totals]

    @strawberry.field(description="The lines at current prices.")
    def subtotal(self) -> Money:
        return Money.of(self.totals.subtotal)

    @strawberry.field(description="What discounts take off (0 when none).")
    def discount(self) -> Money:
        return Money.of(self.totals.discount)

    @strawberry.field(description="The shipping method's price (0 without one).")
    def shipping(self) -> Money:
        return Money.of(self.totals.shipping)

    @strawberry.field(
        description="The tax: included in the prices, or added to them, as the "
        "shop is configured."
    )
    def tax(self) -> Money:
        return Money.of(self.totals.tax)

    @strawberry.field(description="What the buyer pays.")
    def total(self) -> Money:
        return Money.of(self.totals.total)
