"""Order reads."""

import strawberry
import strawberry_django
from strawberry import relay
from strawberry.types import Info

from schema.errors import graphql_error
from schema.ids import node_pk
from schema.orders.types import OrderType, granted_order
from shop.orders.errors import ErrorCode, OrderError
from shop.orders.models import Order
from shop.orders.selectors import order_by_token


@strawberry.type
class OrderQuery:
    @strawberry_django.field(
        description="By id for its owner or staff with the orders.view_order "
        "permission (null for anyone else); by token for anyone holding it."
    )
    def order(
        self, info: Info, id: relay.GlobalID | None = None, token: str | None = None
    ) -> OrderType | None:
        if (id is None) == (token is None):
            raise graphql_error(
                OrderError(
                    ErrorCode.INVALID, "Give exactly one of id and token.", field="id"
                )
            )
        if token is not None:
            found = order_by_token(token=token).values_list("pk", flat=True).first()
            return granted_order(info, found) if found else None
        try:
            return Order.objects.filter(pk=node_pk(id, "Order", error=OrderError))
        except OrderError as error:
            raise graphql_error(error) from error
