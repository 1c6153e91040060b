"""Account reads."""

from django.db.models import QuerySet

from shop.accounts.models import User


def user_list(*, user, users: QuerySet | None = None) -> QuerySet[User]:
    """The accounts ``user`` may see: every one for staff, their own otherwise."""
    users = User.objects.all() if users is None else users
    if not getattr(user, "is_authenticated", False):
        return users.none()
    if user.is_active and user.is_staff:
        return users
    return users.filter(pk=user.pk)
