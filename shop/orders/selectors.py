"""Order reads."""

from collections.abc import Collection

from django.db.models import Q, QuerySet

from shop.core.permissions import staff_may
from shop.orders.models import Order


def order_list(
    *, user, orders: QuerySet | None = None, also: Collection[int] = ()
) -> QuerySet[Order]:
    """The orders ``user`` may see: their own (all of them for staff with the
    orders.view_order permission), plus the ``also`` ids the caller was granted (by
    the order's secret token)."""
    orders = Order.objects.all() if orders is None else orders
    if staff_may(user, "orders.view_order"):
        return orders
    signed_in = getattr(user, "is_authenticated", False) and user.is_active
    visible = Q(pk__in=list(also)) if also else Q(pk__in=[])
    if signed_in:
        visible |= Q(user_id=user.pk)
    return orders.filter(visible)


def order_by_token(*, token: str) -> QuerySet[Order]:
    """The order a guest's secret token names (anyone holding it may read it)."""
    return Order.objects.filter(token=token)
