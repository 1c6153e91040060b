"""Cart mutations: each one atomic step in Redis."""

import strawberry
from strawberry.types import Info

from schema.cart.resolvers import cart_change, variant_pks
from schema.cart.types import CartLineInput, CartPayload
from schema.context import client_ip
from shop.cart import services


def _lines(lines: list[CartLineInput]) -> list[tuple[int, int]]:
    pks = variant_pks([line.variant_id for line in lines], "lines.{}.variantId".format)
    return [(pk, line.quantity) for pk, line in zip(pks, lines, strict=True)]


@strawberry.type
class CartMutation:
    @strawberry.mutation(
        description="Add to the quantities in the cart. Without a token, a guest "
        "gets a new cart: keep its token."
    )
    def cart_lines_add(
        self, info: Info, lines: list[CartLineInput], token: str | None = None
    ) -> CartPayload:
        return cart_change(
            info,
            lambda user: services.cart_lines_add(
                user=user, token=token, lines=_lines(lines)
            ),
        )

    @strawberry.mutation(description="Set quantities; 0 removes the line.")
    def cart_lines_update(
        self, info: Info, lines: list[CartLineInput], token: str | None = None
    ) -> CartPayload:
        return cart_change(
            info,
            lambda user: services.cart_lines_update(
                user=user, token=token, lines=_lines(lines)
            ),
        )

    @strawberry.mutation(description="Remove the lines of these variants.")
    def cart_lines_remove(
        self, info: Info, variant_ids: list[strawberry.ID], token: str | None = None
    ) -> CartPayload:
        return cart_change(
            info,
            lambda user: services.cart_lines_remove(
                user=user,
                token=token,
                variant_ids=variant_pks(variant_ids, "variantIds.{}".format),
            ),
        )

    @strawberry.mutation(description="Empty the cart; a guest cart keeps its token.")
    def cart_clear(self, info: Info, token: str | None = None) -> CartPayload:
        return cart_change(
            info, lambda user: services.cart_clear(user=user, token=token)
        )

    @strawberry.mutation(
        description="Apply a voucher code (any case) to the cart: judged against "
        "the cart now (VOUCHER_* errors otherwise) and kept with it; Cart.estimate "
        "shows its discount and checkout uses it. Wrong codes are throttled per "
        "cart and per client (THROTTLED)."
    )
    def cart_voucher_apply(
        self, info: Info, code: str, token: str | None = None
    ) -> CartPayload:
        return cart_change(
            info,
            lambda user: services.cart_voucher_apply(
                user=user, token=token, code=code, client_ip=client_ip(info)
            ),
        )

    @strawberry.mutation(description="Take the voucher off the cart.")
    def cart_voucher_remove(self, info: Info, token: str | None = None) -> CartPayload:
        return cart_change(
            info, lambda user: services.cart_voucher_remove(user=user, token=token)
        )
