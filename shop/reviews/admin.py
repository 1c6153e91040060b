from django.contrib import admin

from shop.reviews.models import Review
from shop.reviews.services import review_visibility_set


def _visibility_action(hidden: bool, label: str):
    def action(modeladmin, request, queryset) -> None:
        changed = sum(
            review_visibility_set(review_id=review_id, hidden=hidden)
            for review_id in queryset.order_by("pk").values_list("pk", flat=True)
        )
        modeladmin.message_user(request, f"{changed} reviews {label}.")

    action.__name__ = "hide" if hidden else "show"
    verb = "Hide" if hidden else "Show"
    return admin.action(
        description=f"{verb} the selected reviews", permissions=["change"]
    )(action)


@admin.register(Review)
class ReviewAdmin(admin.ModelAdmin):
    """Moderation: staff read reviews and hide or show them (the product's rating
    follows in the same transaction). What a customer wrote is not edited here;
    deleting a review takes it out of the rating too."""

    list_display = (
        "product",
        "rating",
        "author_email",
        "verified_purchase",
        "is_hidden",
        "created_at",
    )
    list_filter = ("is_hidden", "rating", "verified_purchase", "created_at")
    search_fields = ("product__name", "author__email", "comment")
    list_select_related = ("product", "author")
    date_hierarchy = "created_at"
    fields = (
        "product",
        "author",
        "rating",
        "comment",
        "verified_purchase",
        "is_hidden",
        "created_at",
        "edited_at",
    )
    readonly_fields = (
        "product",
        "author",
        "rating",
        "comment",
        "verified_purchase",
        "created_at",
        "edited_at",
    )
    actions = (_visibility_action(True, "hidden"), _visibility_action(False, "shown"))

    @admin.display(description="author", ordering="author__email")
    def author_email(self, review: Review) -> str:
        return review.author.email

    def has_add_permission(self, request) -> bool:
        return False  # reviews come from customers

    def save_model(self, request, obj: Review, form, change: bool) -> None:
        # Only "hidden" is editable; it moves the product's rating with it.
        if "is_hidden" in form.changed_data:
            review_visibility_set(review_id=obj.pk, hidden=obj.is_hidden)
