from django.contrib.auth.models import AbstractBaseUser, PermissionsMixin
from django.db import models, transaction
from django.db.models.functions import Lower
from django.dispatch import Signal
from django.utils import timezone

from shop.accounts.events import user_revoked_publish_on_commit
from shop.accounts.managers import UserManager

# Sent inside the transaction that saves a new password (or none) for an existing
# user, whatever saved it (the admin, changepassword, passwordChange, code):
# shop.accounts.services answers it by revoking the user's refresh tokens.
password_saved_signal = Signal()

# What others see of a user who gave no name.
ANONYMOUS_NAME = "Customer"


class User(AbstractBaseUser, PermissionsMixin):
    """A buyer or a member of staff, who signs in with an email address."""

    email = models.EmailField(
        "email address",
        max_length=254,
        unique=True,
        help_text="The login; stored lower-cased, so unique regardless of case.",
    )
    first_name = models.CharField(max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)
    is_staff = models.BooleanField(
        default=False, help_text="Whether the user can use the admin site."
    )
    is_active = models.BooleanField(
        default=True, help_text="Unset this instead of deleting the account."
    )
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    EMAIL_FIELD = "email"
    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        verbose_name = "user"
        verbose_name_plural = "users"
        constraints = [
            # The manager lower-cases emails; this holds for code that does not.
            models.UniqueConstraint(
                Lower("email"),
                name="accounts_user_email_lower_unique",
                violation_error_message="An account with this email already exists.",
            ),
        ]

    # set_unusable_password() was called since the last save (set_password() keeps
    # the raw password in Django's own ``_password`` until the save).
    _password_discarded = False

    def __str__(self) -> str:
        return self.email

    @property
    def public_name(self) -> str:
        """How others see this user (on reviews): "Ada L.", "Ada", or "Customer"
        without a first name; never the email address."""
        first, last = self.first_name.strip(), self.last_name.strip()
        if first and last:
            return f"{first} {last[0]}."
        return first or ANONYMOUS_NAME

    def save(self, *args, **kwargs) -> None:
        """Saving a new password (set_password or set_unusable_password) signs the
        user out everywhere, in the same transaction: the admin's password form,
        changepassword, passwordChange and any other code. Re-hashing at sign-in
        (check_password clears ``_password`` first) and new accounts revoke nothing.
        Saving an inactive user closes their live connections.
        """
        update_fields = kwargs.get("update_fields")
        password_saved = update_fields is None or "password" in update_fields
        password_changed = self._password is not None or self._password_discarded
        if not (self._state.adding or self.is_active) and (
            update_fields is None or "is_active" in update_fields
        ):
            # A deactivated user's open sockets are closed once this commits.
            user_revoked_publish_on_commit(self.pk)
        if self._state.adding or not (password_saved and password_changed):
            super().save(*args, **kwargs)
        else:
            # What follows is the services' rule (shop.accounts.services signs the
            # user out everywhere), in the same transaction as the new password.
            with transaction.atomic(using=kwargs.get("using")):
                super().save(*args, **kwargs)
                password_saved_signal.send(sender=User, user=self)
        if password_saved:
            self._password_discarded = False

    def clean(self) -> None:
        super().clean()
        self.email = self.__class__.objects.normalize_email(self.email)

    def set_unusable_password(self) -> None:
        super().set_unusable_password()
        self._password_discarded = True
