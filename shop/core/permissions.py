"""Who may read beyond their own: the admin's rule, shared by the API."""


def staff_may(user, permission: str) -> bool:
    """Whether ``user`` is active staff holding ``permission`` ("app.codename").

    As in the admin: ``is_staff`` lets a user in, the model's permission (from the
    user or a group) lets them read; superusers hold every permission. Staff without
    it are ordinary users. Django caches the permissions on the user object.
    """
    return bool(
        getattr(user, "is_authenticated", False)
        and user.is_active
        and user.is_staff
        and user.has_perm(permission)
    )


def staff_permissions(user) -> frozenset[str]:
    """The permissions ``staff_may`` grants ``user`` ("app.codename"; every one
    for a superuser): none unless the user is active staff."""
    if not (
        getattr(user, "is_authenticated", False) and user.is_active and user.is_staff
    ):
        return frozenset()
    return frozenset(user.get_all_permissions())
