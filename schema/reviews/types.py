"""Review types, the filter of Product.reviews, inputs and payloads."""

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
import strawberry_django
from django.db.models import Q, QuerySet
from strawberry import UNSET, relay
from strawberry.types import Info
from strawberry_django.optimizer import is_optimized_by_prefetching

from schema.connections import ConnectionField
from schema.context import current_user
from schema.errors import UserError, graphql_error
from schema.optimizing import keeping_columns
from shop.catalog.models import Product
from shop.reviews import selectors
from shop.reviews.errors import ErrorCode, ReviewError
from shop.reviews.models import RATING_MAX, RATING_MIN, Review

if TYPE_CHECKING:
    from schema.catalog.types import ProductType


@strawberry_django.filter_type(
    Review, name="ReviewFilter", description="Which reviews to list."
)
class ReviewFilter:
    verified_purchase: bool | None = strawberry_django.filter_field(
        default=UNSET, description="true: only reviews by buyers of the product."
    )
    # strawberry-django gives every filter a DISTINCT flag; these conditions join
    # nothing, so a review never repeats and the flag stays private.
    DISTINCT: strawberry.Private[bool] = False

    @strawberry_django.filter_field(description="Only reviews with this rating, 1..5.")
    def rating(self, value: int, prefix: str) -> Q:
        if not RATING_MIN <= value <= RATING_MAX:
            raise graphql_error(
                ReviewError(
                    ErrorCode.INVALID,
                    f"Filter by a rating from {RATING_MIN} to {RATING_MAX}.",
                    field="rating",
                )
            )
        return Q(**{f"{prefix}rating": value})


class VisibleReviewsField(ConnectionField):
    """A product's reviews as every shopper sees them: hidden ones never, not even
    for their author or staff, so ``totalCount`` matches ``reviewCount``."""

    def get_queryset(self, queryset: QuerySet, info: Info, **kwargs) -> QuerySet:
        # A list of products prefetches every product's page in one query, through
        # this method; filtering its result again would query once per product.
        if not is_optimized_by_prefetching(queryset):
            queryset = queryset.filter(is_hidden=False)
        return super().get_queryset(queryset, info, **kwargs)


@strawberry_django.type(
    Review,
    name="Review",
    filters=ReviewFilter,
    description="A signed-in buyer's rating and comment on a product.",
)
class ReviewType(relay.Node):
    rating: int = strawberry_django.field(description="1 to 5 stars.")
    comment: str = strawberry_django.field(description="What the author wrote.")
    verified_purchase: bool = strawberry_django.field(
        description="The author had a paid order with this product when writing or "
        "last editing the review."
    )
    hidden: bool = strawberry_django.field(
        field_name="is_hidden",
        description="Hidden by staff: only its author still sees it, and it does not "
        "count in the product's rating. Always false in Product.reviews.",
    )
    created_at: datetime = strawberry_django.field(description="When it was written.")
    edited_at: datetime | None = strawberry_django.field(
        description="When its author last changed it; null if never."
    )
    product: Annotated["ProductType", strawberry.lazy("schema.catalog.types")] = (
        strawberry_django.field(description="The product reviewed.")
    )

    @classmethod
    def get_queryset(cls, queryset: QuerySet, info: Info, **kwargs) -> QuerySet:
        reviews = selectors.review_list(user=current_user(info), reviews=queryset)
        return keeping_columns(reviews, ("created_at",))

    @strawberry_django.field(
        select_related=["author"],
        only=["author__first_name", "author__last_name"],
        description='The author\'s public name, such as "Ada L." (never an email).',
    )
    def author(self, root: Review) -> str:
        return root.author.public_name


@strawberry.input(description="A new review; the rating is 1 to 5.")
class ReviewCreateInput:
    product_id: strawberry.ID = strawberry.field(description="The product reviewed.")
    rating: int = strawberry.field(description="1 to 5 stars.")
    comment: str = strawberry.field(description="Up to 5,000 characters; not empty.")


@strawberry.input(description="A change to your review: give what changes.")
class ReviewUpdateInput:
    rating: int | None = strawberry.field(default=None, description="1 to 5 stars.")
    comment: str | None = strawberry.field(
        default=None, description="Up to 5,000 characters; not empty."
    )


def granted_review(review_id: int | None) -> QuerySet | None:
    return None if review_id is None else Review.objects.filter(pk=review_id)


@strawberry.type(description="A review after a change, or why nothing changed.")
class ReviewPayload:
    review_id: strawberry.Private[int | None] = None
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why nothing changed."
    )

    @strawberry_django.field(
        description="The review (its product carries the new rating); null on errors."
    )
    def review(self, info: Info) -> ReviewType | None:
        return granted_review(self.review_id)


@strawberry.type(description="The result of reviewDelete.")
class ReviewDeletePayload:
    deleted_id: strawberry.ID | None = strawberry.field(
        default=None, description="The ID of the review withdrawn; null on errors."
    )
    product_id: strawberry.Private[int | None] = None
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why nothing was deleted."
    )

    @strawberry_django.field(
        description="The product, with its new rating; null on errors."
    )
    def product(
        self, info: Info
    ) -> Annotated["ProductType", strawberry.lazy("schema.catalog.types")] | None:
        if self.product_id is None:
            return None
        return Product.objects.filter(pk=self.product_id)
