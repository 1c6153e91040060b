"""Shared by the cart query and mutations: IDs in, snapshots out."""

from collections.abc import Callable, Sequence

from graphql import GraphQLError
from strawberry.types import Info

from schema.cart.types import CartPayload, CartType
from schema.context import current_user
from schema.errors import user_errors
from schema.ids import node_pk
from shop.cart.errors import CartError, CartUnavailable
from shop.cart.services import CartSnapshot

SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"


def unavailable(error: CartUnavailable) -> GraphQLError:
    return GraphQLError(
        "Carts are unavailable right now; try again shortly.",
        extensions={"code": SERVICE_UNAVAILABLE},
        original_error=error,
    )


def variant_pks(ids: Sequence[str], field: Callable[[int], str]) -> list[int]:
    """Database ids of ProductVariant global IDs; CartError(INVALID) for others."""
    pks, problems = [], []
    for index, value in enumerate(ids):
        try:
            pks.append(
                node_pk(value, "ProductVariant", field=field(index), error=CartError)
            )
        except CartError as error:
            problems.append(error)
    CartError.raise_any(problems)
    return pks


def cart_change(
    info: Info, change: Callable[..., CartSnapshot], **kwargs
) -> CartPayload:
    """Run a cart service for the request's user; map its outcome to a payload."""
    try:
        snapshot = change(user=current_user(info), **kwargs)
    except CartError as error:
        return CartPayload(errors=user_errors(error))
    except CartUnavailable as error:
        raise unavailable(error) from error
    return CartPayload(cart=CartType(snapshot=snapshot))
