"""The GraphQL schema: ``from schema import schema``."""

import strawberry
from django.conf import settings
from strawberry.extensions import MaxAliasesLimiter, MaxTokensLimiter, QueryDepthLimiter
from strawberry.schema.config import StrawberryConfig
from strawberry_django.optimizer import DjangoOptimizerExtension

from schema.accounts.mutations import AccountMutation
from schema.accounts.queries import AccountQuery
from schema.cart.mutations import CartMutation
from schema.cart.queries import CartQuery
from schema.catalog.queries import CatalogQuery
from schema.extensions import ErrorCodes, QueryCost
from schema.logging import IntrospectionSetting, RequestIdInErrors, ShopSchema
from schema.naming import ShopNameConverter
from schema.orders.mutations import OrderMutation
from schema.orders.queries import OrderQuery
from schema.orders.subscriptions import OrderSubscription
from schema.payments.mutations import PaymentMutation
from schema.reviews.mutations import ReviewMutation
from schema.scalars import SCALAR_MAP


@strawberry.type(description="Everything a storefront can read.")
class Query(CatalogQuery, CartQuery, AccountQuery, OrderQuery):
    pass


@strawberry.type(description="Everything a storefront can change.")
class Mutation(
    AccountMutation, CartMutation, OrderMutation, PaymentMutation, ReviewMutation
):
    pass


@strawberry.type(description="What a storefront can follow live, over WebSocket.")
class Subscription(OrderSubscription):
    pass


schema = ShopSchema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    config=StrawberryConfig(
        relay_max_results=settings.GRAPHQL_MAX_PAGE_SIZE,
        name_converter=ShopNameConverter(),
        scalar_map=SCALAR_MAP,
    ),
    extensions=[
        DjangoOptimizerExtension,
        lambda: QueryDepthLimiter(max_depth=settings.GRAPHQL_MAX_DEPTH),
        lambda: MaxAliasesLimiter(max_alias_count=settings.GRAPHQL_MAX_ALIASES),
        lambda: MaxTokensLimiter(max_token_count=settings.GRAPHQL_MAX_TOKENS),
        QueryCost,
        IntrospectionSetting,
        ErrorCodes,
        RequestIdInErrors,  # after ErrorCodes: it reads the codes
    ],
)

__all__ = ["schema"]
