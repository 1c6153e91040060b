"""Writing, changing and withdrawing reviews (signed-in users only)."""

import strawberry
from strawberry.types import Info

from schema.errors import user_errors
from schema.ids import node_pk
from schema.permissions import IsAuthenticated, signed_in_user
from schema.reviews.types import (
    ReviewCreateInput,
    ReviewDeletePayload,
    ReviewPayload,
    ReviewUpdateInput,
)
from shop.reviews import services
from shop.reviews.errors import ReviewError


@strawberry.type
class ReviewMutation:
    @strawberry.mutation(
        description="Review a product, once: a second review of the same product is "
        "ALREADY_EXISTS (change the first with reviewUpdate).",
        permission_classes=[IsAuthenticated],
    )
    def review_create(self, info: Info, input: ReviewCreateInput) -> ReviewPayload:
        try:
            review = services.review_create(
                user=signed_in_user(info),
                product_id=node_pk(
                    input.product_id, "Product", field="productId", error=ReviewError
                ),
                rating=input.rating,
                comment=input.comment,
            )
        except ReviewError as error:
            return ReviewPayload(errors=user_errors(error))
        return ReviewPayload(review_id=review.pk)

    @strawberry.mutation(
        description="Change your review's rating and/or comment.",
        permission_classes=[IsAuthenticated],
    )
    def review_update(
        self, info: Info, id: strawberry.ID, input: ReviewUpdateInput
    ) -> ReviewPayload:
        try:
            review = services.review_update(
                user=signed_in_user(info),
                review_id=node_pk(id, "Review", error=ReviewError),
                rating=input.rating,
                comment=input.comment,
            )
        except ReviewError as error:
            return ReviewPayload(errors=user_errors(error))
        return ReviewPayload(review_id=review.pk)

    @strawberry.mutation(
        description="Withdraw your review.", permission_classes=[IsAuthenticated]
    )
    def review_delete(self, info: Info, id: strawberry.ID) -> ReviewDeletePayload:
        try:
            product_id = services.review_delete(
                user=signed_in_user(info),
                review_id=node_pk(id, "Review", error=ReviewError),
            )
        except ReviewError as error:
            return ReviewDeletePayload(errors=user_errors(error))
        return ReviewDeletePayload(deleted_id=id, product_id=product_id)
