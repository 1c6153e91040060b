from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from graphql_jwt.refresh_token.admin import RefreshTokenAdmin as BaseRefreshTokenAdmin
from graphql_jwt.refresh_token.models import RefreshToken

from shop.accounts.models import User
from shop.accounts.services import refresh_tokens_revoke, user_refresh_tokens_revoke


class UserCreationForm(AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("email",)


class UserEditForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    """Users by email; passwords through Django's own forms."""

    form = UserEditForm
    add_form = UserCreationForm
    ordering = ("email",)
    list_display = ("email", "first_name", "last_name", "is_staff", "is_active")
    list_filter = ("is_staff", "is_superuser", "is_active")
    search_fields = ("email", "first_name", "last_name")
    actions = ("sign_out_everywhere",)
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Personal info", {"fields": ("first_name", "last_name")}),
        (
            "Permissions",
            {
                "fields": (
                    "is_active",
                    "is_staff",
                    "is_superuser",
                    "groups",
                    "user_permissions",
                )
            },
        ),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("email", "password1", "password2"),
            },
        ),
    )

    @admin.action(description="Sign out everywhere (revoke refresh tokens)")
    def sign_out_everywhere(self, request, queryset) -> None:
        revoked = sum(user_refresh_tokens_revoke(user=user) for user in queryset)
        self.message_user(request, f"{revoked} refresh tokens revoked.")


admin.site.unregister(RefreshToken)


@admin.register(RefreshToken)
class RefreshTokenAdmin(BaseRefreshTokenAdmin):
    """Refresh tokens by user; staff revoke them with the action."""

    search_fields = ("user__email", "token")
    list_select_related = ("user",)
    date_hierarchy = "created"

    @admin.action(description="Revoke selected refresh tokens")
    def revoke(self, request, queryset) -> None:
        # The library's action updates the rows directly; the service follows the
        # locking rule shared by every path that revokes tokens.
        revoked = refresh_tokens_revoke(ids=queryset.values_list("pk", flat=True))
        self.message_user(request, f"{revoked} refresh tokens revoked.")
