"""The cart query."""

import strawberry
from strawberry.types import Info

from schema.cart.resolvers import unavailable
from schema.cart.types import CartType
from schema.context import current_user
from schema.errors import graphql_error
from shop.cart import services
from shop.cart.errors import CartError, CartUnavailable


@strawberry.type
class CartQuery:
    @strawberry.field(
        description="Signed in: the user's cart (a guest token passed along is "
        "merged into it, once). Guest: the token's cart. Null for a guest without "
        "a token."
    )
    def cart(self, info: Info, token: str | None = None) -> CartType | None:
        try:
            snapshot = services.cart_get(user=current_user(info), token=token)
        except CartError as error:
            raise graphql_error(error) from error
        except CartUnavailable as error:
            raise unavailable(error) from error
        return None if snapshot is None else CartType(snapshot=snapshot)
