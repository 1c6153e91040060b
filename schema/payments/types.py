"""Payment payloads."""

from datetime import datetime

import strawberry
import strawberry_django
from strawberry.types import Info

from schema.errors import UserError
from schema.orders.types import OrderType, granted_order


@strawberry.type(description="A hosted Stripe Checkout page for an order, or why not.")
class PaymentSessionPayload:
    order_id: strawberry.Private[int | None] = None
    url: str | None = strawberry.field(
        default=None, description="Stripe's hosted payment page: send the buyer there."
    )
    session_id: str | None = strawberry.field(
        default=None, description="The Checkout Session's id (cs_...)."
    )
    expires_at: datetime | None = strawberry.field(
        default=None,
        description="When the page stops taking payment; the order's stock is held "
        "until then.",
    )
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why there is no payment page."
    )

    @strawberry_django.field(description="The order being paid; null on errors.")
    def order(self, info: Info) -> OrderType | None:
        return granted_order(info, self.order_id)


@strawberry.type(
    description="A Stripe PaymentIntent for Stripe Elements to confirm, or why not."
)
class PaymentIntentPayload:
    order_id: strawberry.Private[int | None] = None
    client_secret: str | None = strawberry.field(
        default=None,
        description="Give it to Stripe.js (stripe.confirmPayment); keep it out of "
        "logs and URLs.",
    )
    payment_intent_id: str | None = strawberry.field(
        default=None, description="The PaymentIntent's id (pi_...)."
    )
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why there is no PaymentIntent."
    )

    @strawberry_django.field(description="The order being paid; null on errors.")
    def order(self, info: Info) -> OrderType | None:
        return granted_order(info, self.order_id)
