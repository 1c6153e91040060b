"""Building blocks for review tests."""

from decimal import Decimal

from django.db.models import Count, Sum

from shop.catalog.models import Product
from shop.orders.models import CancelReason, Order
from shop.orders.services import checkout_complete, order_transition
from shop.reviews.models import Review
from shop.reviews.services import review_create
from tests.orders_helpers import ADDRESS, user_cart


def review(user, product, rating: int = 4, comment: str = "Does the job.") -> Review:
    return review_create(
        user=user, product_id=product.pk, rating=rating, comment=comment
    )


def bought(user, product, status: str = "PAID") -> Order:
    """An order of ``user`` with one unit of ``product``'s first variant, moved to
    ``status`` (PENDING_PAYMENT leaves it as checkout made it)."""
    user_cart(user, (product.variants.order_by("pk").first(), 1))
    order = checkout_complete(
        user=user, cart_token=None, email=user.email, address=ADDRESS
    )
    path = {
        "PENDING_PAYMENT": [],
        "PAID": ["PAID"],
        "FULFILLED": ["PAID", "FULFILLED"],
        "REFUNDED": ["PAID", "REFUNDED"],
        "CANCELED": ["CANCELED"],
    }[status]
    for step in path:
        order_transition(
            order_id=order.pk, to_status=step, cancel_reason=CancelReason.BUYER
        )
    return order


def aggregates(product) -> tuple[int, int, Decimal | None]:
    """The product's stored (review_count, rating_total, rating_average)."""
    return tuple(
        Product.objects.filter(pk=product.pk).values_list(
            "review_count", "rating_total", "rating_average"
        )[0]
    )


def recomputed(product) -> tuple[int, int, Decimal | None]:
    """The same three figures counted afresh from the visible reviews."""
    row = Review.objects.filter(product=product, is_hidden=False).aggregate(
        count=Count("pk"), total=Sum("rating")
    )
    count, total = row["count"], row["total"] or 0
    average = None
    if count:
        average = (Decimal(total) / count).quantize(Decimal("0.01"), "ROUND_HALF_UP")
    return count, total, average
