"""Review reads."""

from django.db.models import Q, QuerySet

from shop.catalog.selectors import product_list
from shop.core.permissions import staff_may
from shop.reviews.models import Review


def review_list(*, user=None, reviews: QuerySet | None = None) -> QuerySet[Review]:
    """Reviews the user may read: the visible reviews of products they may see,
    and their own reviews, hidden or not. Staff with reviews.view_review see
    hidden ones too (the admin is where they act on them)."""
    reviews = Review.objects.all() if reviews is None else reviews
    reviews = reviews.filter(product__in=product_list(user=user).values("pk"))
    if staff_may(user, "reviews.view_review"):
        return reviews
    visible = Q(is_hidden=False)
    if user is not None and user.is_authenticated:
        visible |= Q(author=user)
    return reviews.filter(visible)
