"""Checkout and order changes."""

import strawberry
from strawberry.types import Info

from schema.cart.resolvers import unavailable
from schema.context import current_user
from schema.errors import user_errors
from schema.ids import node_pk
from schema.orders.types import CheckoutInput, CheckoutPayload, OrderPayload
from schema.permissions import IsAuthenticated
from shop.cart.errors import CartUnavailable
from shop.orders import services
from shop.orders.errors import OrderError


@strawberry.type
class OrderMutation:
    @strawberry.mutation(
        description="Turn the cart into an order (PENDING_PAYMENT); stock is "
        "reserved until it is paid or expires."
    )
    def checkout(self, info: Info, input: CheckoutInput) -> CheckoutPayload:
        address = input.shipping_address
        try:
            method_pk = (
                None
                if input.shipping_method_id is None
                else node_pk(
                    input.shipping_method_id,
                    "ShippingMethod",
                    field="shippingMethodId",
                    error=OrderError,
                )
            )
            order = services.checkout_complete(
                user=current_user(info),
                cart_token=input.cart_token,
                email=input.email,
                address=services.AddressData(
                    name=address.name,
                    line1=address.line1,
                    line2=address.line2 or "",
                    city=address.city,
                    postal_code=address.postal_code,
                    country=address.country,
                ),
                idempotency_key=input.idempotency_key,
                shipping_method_id=method_pk,
                voucher_code=input.voucher_code,
            )
        except OrderError as error:
            return CheckoutPayload(errors=user_errors(error))
        except CartUnavailable as error:
            raise unavailable(error) from error
        return CheckoutPayload(order_id=order.pk)

    @strawberry.mutation(
        description="Cancel your own order while it awaits payment.",
        permission_classes=[IsAuthenticated],
    )
    def order_cancel(self, info: Info, id: strawberry.ID) -> OrderPayload:
        try:
            order = services.order_cancel(
                user=current_user(info),
                order_id=node_pk(id, "Order", error=OrderError),
            )
        except OrderError as error:
            return OrderPayload(errors=user_errors(error))
        return OrderPayload(order_id=order.pk)
