"""Where the shop ships, and at what price."""

import strawberry
from strawberry.types import Info

from schema.cart.resolvers import unavailable
from schema.context import current_user
from schema.errors import graphql_error
from schema.shipping.types import ShippingMethodType
from shop.cart import services as cart_services
from shop.cart.errors import CartError, CartUnavailable
from shop.catalog.cache_tags import SHIPPING, record
from shop.orders.errors import OrderError
from shop.orders.pricing import shipping_choices


@strawberry.type
class ShippingQuery:
    @strawberry.field(
        description="What ships to a country (an ISO 3166 code such as GB), "
        "cheapest first; with a cart token (or signed in, the user's cart), only "
        "what takes that cart, at its price for it."
    )
    def shipping_methods(
        self, info: Info, country: str, cart_token: str | None = None
    ) -> list[ShippingMethodType]:
        record(SHIPPING)  # cached when no cart is named: see ROOT_FIELDS
        try:
            user = current_user(info)
            cart = None
            if cart_token is not None or user.is_authenticated:
                cart = cart_services.cart_get(user=user, token=cart_token)
            return shipping_choices(country, cart)
        except (OrderError, CartError) as error:
            raise graphql_error(error) from error
        except CartUnavailable as error:
            raise unavailable(error) from error
