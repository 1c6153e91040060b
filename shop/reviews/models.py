from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Length
from django.db.models.lookups import GreaterThan, LessThanOrEqual

RATING_MIN = 1
RATING_MAX = 5
COMMENT_MAX_LENGTH = 5000


class Review(models.Model):
    """A signed-in buyer's rating (1 to 5) and comment on one product.

    Write reviews only through ``shop.reviews.services``: each write moves the
    product's ``review_count`` / ``rating_total`` / ``rating_average`` in the same
    transaction. Hidden reviews count for nothing and are shown to nobody but
    their author.
    """

    product = models.ForeignKey(
        "catalog.Product", on_delete=models.CASCADE, related_name="reviews"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reviews"
    )
    rating = models.PositiveSmallIntegerField(help_text="1 to 5 stars.")
    comment = models.TextField(max_length=COMMENT_MAX_LENGTH)
    verified_purchase = models.BooleanField(
        default=False,
        editable=False,
        help_text="The author had a paid (or later fulfilled or refunded) order "
        "with this product when they wrote or last edited the review.",
    )
    is_hidden = models.BooleanField(
        "hidden",
        default=False,
        help_text="Hidden by staff: shown to nobody but its author and left out of "
        "the product's rating.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    edited_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="Last edited by its author."
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["author", "product"],
                name="reviews_one_per_author_and_product",
                violation_error_message="You have already reviewed this product.",
            ),
            models.CheckConstraint(
                condition=Q(rating__gte=RATING_MIN, rating__lte=RATING_MAX),
                name="reviews_rating_1_to_5",
            ),
            models.CheckConstraint(
                condition=Q(
                    GreaterThan(Length("comment"), 0),
                    LessThanOrEqual(Length("comment"), COMMENT_MAX_LENGTH),
                ),
                name="reviews_comment_length",
            ),
        ]
        indexes = [
            # Product.reviews: a product's visible reviews, newest first.
            models.Index(
                "product",
                models.F("created_at").desc(),
                models.F("id").desc(),
                condition=Q(is_hidden=False),
                name="reviews_product_newest",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rating}/5 on {self.product_id} by {self.author_id}"
