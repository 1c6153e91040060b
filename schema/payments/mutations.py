"""Starting a Stripe payment for an order."""

import strawberry
from strawberry.types import Info

from schema.context import current_user
from schema.errors import user_errors
from schema.ids import node_pk
from schema.payments.types import PaymentIntentPayload, PaymentSessionPayload
from schema.permissions import signed_in_user
from shop.orders.models import Order
from shop.payments import services
from shop.payments.errors import PaymentError


def _order(info: Info, order_id: strawberry.ID | None, order_token: str | None):
    """The order named by id (its signed-in owner, or staff) or by token."""
    if order_id is not None and order_token is None:
        signed_in_user(info)  # naming an order by id needs a signed-in user
    return services.payable_order(
        user=current_user(info),
        order_id=(
            None
            if order_id is None
            else node_pk(order_id, "Order", field="orderId", error=PaymentError)
        ),
        order_token=order_token,
    )


@strawberry.type
class PaymentMutation:
    @strawberry.mutation(
        description="A Stripe-hosted payment page for an order awaiting payment "
        "(asking again returns the open one). Name the order by orderId (its "
        "signed-in owner, or staff) or by orderToken (a guest)."
    )
    def payment_checkout_session_create(
        self,
        info: Info,
        success_url: str,
        cancel_url: str,
        order_id: strawberry.ID | None = None,
        order_token: str | None = None,
    ) -> PaymentSessionPayload:
        try:
            order: Order = _order(info, order_id, order_token)
            payment = services.payment_checkout_session_create(
                order=order, success_url=success_url, cancel_url=cancel_url
            )
        except PaymentError as error:
            return PaymentSessionPayload(errors=user_errors(error))
        return PaymentSessionPayload(
            order_id=order.pk,
            url=payment.checkout_url,
            session_id=payment.stripe_checkout_session_id,
            expires_at=payment.expires_at,
        )

    @strawberry.mutation(
        description="A Stripe PaymentIntent for an order awaiting payment, for "
        "Stripe Elements (asking again returns the open one). Pay it before the "
        "order's reservedUntil."
    )
    def payment_intent_create(
        self,
        info: Info,
        order_id: strawberry.ID | None = None,
        order_token: str | None = None,
    ) -> PaymentIntentPayload:
        try:
            order: Order = _order(info, order_id, order_token)
            payment = services.payment_intent_create(order=order)
        except PaymentError as error:
            return PaymentIntentPayload(errors=user_errors(error))
        return PaymentIntentPayload(
            order_id=order.pk,
            client_secret=payment.client_secret,
            payment_intent_id=payment.stripe_payment_intent_id,
        )
