from django.contrib.auth.models import AbstractBaseUser, PermissionsMixin
from django.db import models
from django.utils import timezone

from shop.accounts.managers import UserManager


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

    def __str__(self) -> str:
        return self.email

    def clean(self) -> None:
        super().clean()
        self.email = self.__class__.objects.normalize_email(self.email)
