"""Every deletion of a review leaves its product's aggregates, whatever deletes it."""

from django.db.models.signals import pre_delete
from django.dispatch import receiver

from shop.catalog.models import Product
from shop.reviews.models import Review
from shop.reviews.services import review_leaves_aggregates


@receiver(pre_delete, sender=Review, dispatch_uid="reviews.leave_aggregates")
def _review_deleted(sender, instance: Review, using: str, origin=None, **kwargs):
    # Django sends pre_delete inside the deletion's transaction, for reviewDelete,
    # the admin's delete and bulk action, and a deleted author's reviews. A
    # product deleted with its reviews keeps no aggregates worth moving.
    if isinstance(origin, Product) or getattr(origin, "model", None) is Product:
        return
    review_leaves_aggregates(review_id=instance.pk, using=using)
