"""Cart types: lines priced from the catalog at read time."""

import strawberry
from strawberry.types import Info

from schema.catalog.types import ProductVariantType
from schema.common import Money
from schema.errors import UserError, graphql_error
from schema.ids import node_pk
from schema.optimizing import optimize_for_subfield
from schema.shipping.types import CartTotalsType
from shop.cart.services import CartSnapshot
from shop.catalog.models import ProductVariant
from shop.orders.errors import OrderError
from shop.orders.pricing import cart_estimate


@strawberry.type(name="CartLine", description="One item of a cart.")
class CartLineType:
    variant: ProductVariantType = strawberry.field(description="What is bought.")
    quantity: int = strawberry.field(description="How many.")
    total: Money = strawberry.field(description="quantity x the current price.")


@strawberry.type(
    name="Cart",
    description="A cart kept in Redis; prices are always the catalog's current ones.",
)
class CartType:
    snapshot: strawberry.Private[CartSnapshot]

    @strawberry.field(
        description="A guest cart's token (pass it back); null for a user's cart."
    )
    def token(self) -> str | None:
        return self.snapshot.token

    @strawberry.field(description="The lines, each priced now.")
    def lines(self, info: Info) -> list[CartLineType]:
        snapshot = self.snapshot
        variants = optimize_for_subfield(
            ProductVariant.objects.filter(pk__in=list(snapshot.quantities)),
            info,
            "variant",
            only=["id"],
        )
        variants = {variant.pk: variant for variant in variants}
        return [
            CartLineType(
                variant=variants[variant_id],
                quantity=quantity,
                total=Money.of(snapshot.line_total(variant_id)),
            )
            for variant_id, quantity in snapshot.quantities.items()
            if variant_id in variants
        ]

    @strawberry.field(
        description="The voucher code applied (upper-case); null when none. One "
        "that no longer applies stays here, counts nothing in the estimate, and "
        "is refused at checkout with its reason."
    )
    def voucher_code(self) -> str | None:
        return self.snapshot.voucher_code or None

    @strawberry.field(description="How many items, all lines together.")
    def total_quantity(self) -> int:
        return self.snapshot.total_quantity

    @strawberry.field(description="The sum of the lines at current prices.")
    def subtotal(self) -> Money:
        return Money.of(self.snapshot.subtotal)

    @strawberry.field(
        description="Exactly what checkout would charge now, shipped to this "
        "country (an ISO 3166 code) by this method (none: without shipping)."
    )
    def estimate(
        self, country: str, shipping_method_id: strawberry.ID | None = None
    ) -> CartTotalsType:
        snapshot = self.snapshot
        try:
            method_pk = (
                None
                if shipping_method_id is None
                else node_pk(
                    shipping_method_id,
                    "ShippingMethod",
                    field="shippingMethodId",
                    error=OrderError,
                )
            )
            totals = cart_estimate(
                snapshot, country=country, shipping_method_id=method_pk
            )
        except OrderError as error:
            raise graphql_error(error) from error
        return CartTotalsType(totals=totals)


@strawberry.type(description="The cart after a change, or why nothing changed.")
class CartPayload:
    cart: CartType | None = strawberry.field(
        default=None, description="The cart; null on errors."
    )
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why nothing changed."
    )


@strawberry.input(description="A variant and a quantity.")
class CartLineInput:
    variant_id: strawberry.ID = strawberry.field(
        description="A ProductVariant's global ID."
    )
    quantity: int = strawberry.field(description="How many.")
