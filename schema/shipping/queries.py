"""Where the shop ships, and at what price."""

import strawberry
from strawberry.types import Info

from schema.cart.resolvers import unavailable
from schema.context import current_user
from schema.errors import graphql_error
from schema.shipping.types import ShippingMethodType
from shop.cart import services as cart_services
from shop.cart.errors import CartError, CartUnavailable
from shop.catalog.cache_tags import record
from shop.orders.errors import OrderError
from shop.orders.pricing import cart_items, cart_measure, country_checked
from shop.shipping.selectors import quotes


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
        record("shipping")  # cached answers without a cart: see ROOT_FIELDS
        try:
            code = country_checked(country)
            measure = None
            user = current_user(info)
            if cart_token is not None or user.is_authenticated:
                snapshot = cart_services.cart_get(user=user, token=cart_token)
                if snapshot is not None:
                    measure = cart_measure(
                        cart_items(snapshot.quantities, snapshot.prices)
                    )
        except (OrderError, CartError) as error:
            raise graphql_error(error) from error
        except CartUnavailable as error:
            raise unavailable(error) from error
        found = []
        for quote in quotes(code, measure):
            quote.method.quoted_price = quote.price
            found.append(quote.method)
        return found
