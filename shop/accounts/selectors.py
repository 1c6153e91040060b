"""Account reads."""

from django.db.models import QuerySet

from shop.accounts.models import User
from shop.core.permissions import staff_may


def user_list(*, user, users: QuerySet | None = None) -> QuerySet[User]:
    """The accounts ``user`` may see: every one for staff with the
    accounts.view_user permission, their own otherwise."""
    users = User.objects.all() if users is None else users
    if not getattr(user, "is_authenticated", False):
        return users.none()
    if staff_may(user, "accounts.view_user"):
        return users
    return users.filter(pk=user.pk)
