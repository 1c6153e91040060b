"""Checkout and order changes."""

import strawberry
from strawberry import relay
from strawberry.types import Info

from schema.cart.resolvers import unavailable
from schema.context import current_user
from schema.errors import user_errors
from schema.orders.types import CheckoutInput, CheckoutPayload, OrderPayload
from schema.permissions import IsAuthenticated
from shop.cart.errors import CartUnavailable
from shop.orders import services
from shop.orders.errors import ErrorCode, OrderError


@strawberry.type
class OrderMutation:
    @strawberry.mutation(
        description="Turn the cart into an order (PENDING_PAYMENT); stock is "
        "reserved until it is paid or expires."
    )
    def checkout(self, info: Info, input: CheckoutInput) -> CheckoutPayload:
        address = input.shipping_address
        try:
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
            node = relay.GlobalID.from_id(id)
            if node.type_name != "Order" or not node.node_id.isdigit():
                raise ValueError(id)
        except ValueError:
            error = OrderError(ErrorCode.INVALID, "Not the ID of an Order.", field="id")
            return OrderPayload(errors=user_errors(error))
        try:
            order = services.order_cancel(
                user=current_user(info), order_id=int(node.node_id)
            )
        except OrderError as error:
            return OrderPayload(errors=user_errors(error))
        return OrderPayload(order_id=order.pk)
