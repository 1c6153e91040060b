"""Review writes, each moving its product's rating aggregates in the same
transaction.

A product's ``review_count`` and ``rating_total`` are the count and the sum of the
ratings of its visible (not hidden) reviews, and ``rating_average`` their quotient
rounded to two places. They are only ever moved by database arithmetic on the
product's row (``review_count = review_count + 1``...), so concurrent writers
queue on that row and none can lose another's change. Each change of a review
first locks the review's own row, so the delta is taken from its current rating
and visibility, not from a copy read earlier.
"""

from django.db import IntegrityError, transaction
from django.db.models import Case, DecimalField, F, Value, When
from django.utils import timezone

from shop.catalog.models import Product
from shop.orders.models import OrderLine, OrderStatus
from shop.reviews.errors import ErrorCode, ReviewError
from shop.reviews.models import COMMENT_MAX_LENGTH, RATING_MAX, RATING_MIN, Review

# Orders that count as a purchase: paid, and what can only follow a payment.
PURCHASED_STATUSES = (OrderStatus.PAID, OrderStatus.FULFILLED, OrderStatus.REFUNDED)


def review_create(*, user, product_id: int, rating: int, comment: str) -> Review:
    """The user's review of a published product.

    INVALID for a rating outside 1..5 or an empty or over-long comment,
    NOT_FOUND for an unknown or unpublished product, ALREADY_EXISTS when the
    user has reviewed it already (also when two requests race).
    """
    comment = _checked(rating=rating, comment=comment)
    with transaction.atomic():
        if not Product.objects.filter(pk=product_id, is_published=True).exists():
            raise ReviewError(
                ErrorCode.NOT_FOUND, "No such product.", field="productId"
            )
        if Review.objects.filter(author=user, product_id=product_id).exists():
            raise _already_reviewed()
        try:
            with transaction.atomic():
                review = Review.objects.create(
                    product_id=product_id,
                    author=user,
                    rating=rating,
                    comment=comment,
                    verified_purchase=_purchased(user.pk, product_id),
                )
        except IntegrityError:
            # A concurrent request of the same user got there first (the unique
            # constraint); anything else is not ours to explain.
            if Review.objects.filter(author=user, product_id=product_id).exists():
                raise _already_reviewed() from None
            raise
        _aggregates_move(product_id, count=1, total=rating)
    return review


def review_update(
    *,
    user,
    review_id: int,
    rating: int | None = None,
    comment: str | None = None,
) -> Review:
    """The author's change of their review's rating and/or comment.

    NOT_FOUND unless it is the user's own review; INVALID as for review_create.
    The review is checked again for a verified purchase.
    """
    comment = _checked(rating=rating, comment=comment)
    with transaction.atomic():
        review = _own_locked(user, review_id)
        old_rating = review.rating
        if rating is not None:
            review.rating = rating
        if comment is not None:
            review.comment = comment
        review.verified_purchase = _purchased(user.pk, review.product_id)
        review.edited_at = timezone.now()
        review.save(
            update_fields=["rating", "comment", "verified_purchase", "edited_at"]
        )
        if not review.is_hidden and review.rating != old_rating:
            _aggregates_move(review.product_id, total=review.rating - old_rating)
    return review


def review_delete(*, user, review_id: int) -> int:
    """The author withdraws their review; returns its product's id.

    NOT_FOUND unless it is the user's own review. The product's aggregates move
    in ``review_leaves_aggregates``, as for any other deletion.
    """
    with transaction.atomic():
        review = _own_locked(user, review_id)
        review.delete()
    return review.product_id


def review_visibility_set(*, review_id: int, hidden: bool) -> bool:
    """Staff hide a review (it leaves its product's rating) or show it again.

    Returns whether it changed (False if it was already so, or is gone).
    Permission is the caller's business (the admin checks reviews.change_review).
    """
    with transaction.atomic():
        review = Review.objects.select_for_update().filter(pk=review_id).first()
        if review is None or review.is_hidden == hidden:
            return False
        review.is_hidden = hidden
        review.save(update_fields=["is_hidden"])
        sign = -1 if hidden else 1
        _aggregates_move(review.product_id, count=sign, total=sign * review.rating)
    return True


def review_leaves_aggregates(*, review_id: int, using: str) -> None:
    """Take a review about to be deleted out of its product's aggregates.

    Called for every deletion of a review (by its author, by staff in the admin,
    with its author's account), inside the deletion's transaction: the row is
    locked and read again, so a concurrent edit or hide is never counted wrong,
    and a review deleted twice at once is subtracted once.
    """
    row = (
        Review.objects.using(using)
        .select_for_update()
        .filter(pk=review_id)
        .values_list("product_id", "rating", "is_hidden")
        .first()
    )
    if row is not None and not row[2]:
        _aggregates_move(row[0], count=-1, total=-row[1], using=using)


# ---------------------------------------------------------------- helpers


def _checked(*, rating: int | None, comment: str | None) -> str | None:
    """The stripped comment, if the rating and comment given are valid."""
    problems = []
    if rating is not None and not RATING_MIN <= rating <= RATING_MAX:
        problems.append(
            ReviewError(
                ErrorCode.INVALID,
                f"Give a rating from {RATING_MIN} to {RATING_MAX}.",
                field="rating",
            )
        )
    if comment is not None:
        comment = comment.strip()
        if not comment:
            problems.append(
                ReviewError(ErrorCode.INVALID, "Write a comment.", field="comment")
            )
        elif len(comment) > COMMENT_MAX_LENGTH:
            problems.append(
                ReviewError(
                    ErrorCode.INVALID,
                    f"Keep the comment to {COMMENT_MAX_LENGTH} characters "
                    f"(it has {len(comment)}).",
                    field="comment",
                )
            )
    ReviewError.raise_any(problems)
    return comment


def _already_reviewed() -> ReviewError:
    return ReviewError(
        ErrorCode.ALREADY_EXISTS,
        "You have already reviewed this product: change your review instead.",
        field="productId",
    )


def _own_locked(user, review_id: int) -> Review:
    review = (
        Review.objects.select_for_update().filter(pk=review_id, author=user).first()
    )
    if review is None:
        raise ReviewError(ErrorCode.NOT_FOUND, "No such review of yours.", field="id")
    return review


def _purchased(user_id: int, product_id: int) -> bool:
    """Whether the user has a paid (or fulfilled, or refunded) order with the
    product."""
    return OrderLine.objects.filter(
        order__user_id=user_id,
        order__status__in=PURCHASED_STATUSES,
        variant__product_id=product_id,
    ).exists()


def _aggregates_move(
    product_id: int, *, count: int = 0, total: int = 0, using: str = "default"
) -> None:
    """Move a product's review count and rating sum by these amounts, and set
    its average from the new values, in one UPDATE of its row.

    The right-hand sides read the row as it is when the UPDATE takes its lock,
    so concurrent moves add up exactly. The average is rounded half up to two
    places in integer arithmetic, the same on every database.
    """
    new_count = F("review_count") + count
    new_total = F("rating_total") + total
    hundredths = (new_total * 200 + new_count) / (new_count * 2)
    Product.objects.using(using).filter(pk=product_id).update(
        review_count=new_count,
        rating_total=new_total,
        rating_average=Case(
            When(review_count__lte=-count, then=Value(None)),
            # 433 * 0.01 is stored as 4.33: the column keeps two places.
            default=hundredths * Value(0.01),
            output_field=DecimalField(max_digits=3, decimal_places=2),
        ),
    )
