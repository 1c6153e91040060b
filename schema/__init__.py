"""The GraphQL schema: ``from schema import schema``."""

import contextlib

import strawberry
from django.conf import settings
from strawberry import relay
from strawberry.extensions import MaxTokensLimiter, ValidationCache
from strawberry.relay.exceptions import NodeIDAnnotationError
from strawberry.schema.config import StrawberryConfig
from strawberry_django.optimizer import DjangoOptimizerExtension

from schema.accounts.mutations import AccountMutation
from schema.accounts.queries import AccountQuery
from schema.cart.mutations import CartMutation
from schema.cart.queries import CartQuery
from schema.catalog.queries import CatalogQuery
from schema.extensions import DocumentLimits, DocumentParseCache, ErrorCodes, QueryCost
from schema.fast_fields import fast_leaves
from schema.logging import IntrospectionSetting, RequestIdInErrors, ShopSchema
from schema.media.mutations import MediaMutation
from schema.naming import ShopNameConverter
from schema.orders.mutations import OrderMutation
from schema.orders.queries import OrderQuery
from schema.orders.subscriptions import OrderSubscription
from schema.payments.mutations import PaymentMutation
from schema.reviews.mutations import ReviewMutation
from schema.scalars import SCALAR_MAP
from schema.shipping.queries import ShippingQuery


@strawberry.type(description="Everything a storefront can read.")
class Query(CatalogQuery, CartQuery, ShippingQuery, AccountQuery, OrderQuery):
    pass


@strawberry.type(description="Everything a storefront can change.")
class Mutation(
    AccountMutation,
    CartMutation,
    OrderMutation,
    PaymentMutation,
    ReviewMutation,
    MediaMutation,
):
    pass


@strawberry.type(description="What a storefront can follow live, over WebSocket.")
class Subscription(OrderSubscription):
    pass


def _node_ids_from_primary_keys() -> None:
    """Tell each node type once which attribute holds its id.

    strawberry looks for a NodeID annotation through the whole class hierarchy for
    every object whose ``id`` it resolves (about 100 us each, some 60 per product
    listing), and strawberry-django then falls back to the primary key. The
    answer, a declared NodeID or the primary key, is kept as ``_id_attr``, which
    strawberry reads first.
    """
    pending = list(relay.Node.__subclasses__())
    while pending:
        node_type = pending.pop()
        pending.extend(node_type.__subclasses__())
        with contextlib.suppress(NodeIDAnnotationError):
            node_type._id_attr = node_type.resolve_id_attr()


_node_ids_from_primary_keys()

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
        # A document seen before is neither parsed nor validated again: both are
        # cached by its text (and the token limit), the validation with the rules
        # that apply (the depth and alias limits included), so every limit still
        # holds and an invalid document answers its errors each time.
        lambda: DocumentParseCache(maxsize=settings.GRAPHQL_DOCUMENT_CACHE_SIZE),
        lambda: ValidationCache(maxsize=settings.GRAPHQL_DOCUMENT_CACHE_SIZE),
        DocumentLimits,
        lambda: MaxTokensLimiter(max_token_count=settings.GRAPHQL_MAX_TOKENS),
        QueryCost,
        IntrospectionSetting,
        ErrorCodes,
        RequestIdInErrors,  # after ErrorCodes: it reads the codes
    ],
)

# Plain columns, annotations and ids read directly (see the module).
fast_leaves(schema)

__all__ = ["schema"]
