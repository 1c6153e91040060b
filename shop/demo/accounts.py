"""The demo staff user of a development or demo install."""

import secrets
from dataclasses import dataclass

from shop.accounts.models import User

ADMIN_EMAIL = "admin@example.com"


@dataclass(frozen=True)
class DemoAdmin:
    email: str
    created: bool
    # The password generated for a new account (shown once), else None.
    generated_password: str | None
    # DEMO_ADMIN_PASSWORD was given and is now the account's password.
    password_from_setting: bool


def demo_admin_ensure(*, password: str | None) -> DemoAdmin:
    """Make sure the superuser admin@example.com exists.

    A new account takes ``password`` (DEMO_ADMIN_PASSWORD), or a generated one
    returned to be shown once. An existing account takes ``password`` if given
    and different (so setting DEMO_ADMIN_PASSWORD later recovers a lost one); a
    password change signs the account out everywhere.
    """
    user = User.objects.filter(email=ADMIN_EMAIL).first()
    if user is None:
        generated = None if password else secrets.token_urlsafe(12)
        User.objects.create_superuser(ADMIN_EMAIL, password or generated)
        return DemoAdmin(ADMIN_EMAIL, True, generated, bool(password))
    if password and not user.check_password(password):
        user.set_password(password)
        user.save(update_fields=["password"])
    return DemoAdmin(ADMIN_EMAIL, False, None, bool(password))
