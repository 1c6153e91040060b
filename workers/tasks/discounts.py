"""Sale tasks: the catalog's sale prices made right at each sale boundary."""

from celery import shared_task
from django.conf import settings

from shop.discounts.sales import boundaries_within, sales_apply_if_due


@shared_task(name="workers.tasks.discounts.sales_check")
def sales_check() -> int | None:
    """Beat, every SALES_CHECK_SECONDS: apply the sales if a boundary passed (or a
    sale or the category tree changed) since they were last applied, and schedule
    ``sales_apply_at`` at each boundary of the next period. Returns how many
    variants changed (None: nothing was due)."""
    changed = sales_apply_if_due()
    for moment in boundaries_within(settings.SALES_CHECK_SECONDS * 2):
        sales_apply_at.apply_async(args=[moment.isoformat()], eta=moment)
    return changed


@shared_task(name="workers.tasks.discounts.sales_apply_at")
def sales_apply_at(boundary: str) -> int | None:
    """At a sale boundary (scheduled by ``sales_check``): apply the sales if that
    is still due (a second run, or one after the periodic check, does nothing)."""
    del boundary  # for the logs: which boundary this run was scheduled for
    return sales_apply_if_due()
