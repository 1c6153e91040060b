from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "shop.accounts"
    label = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        # The services answer the model's password_saved_signal (a new password
        # signs the user out everywhere).
        from shop.accounts import services  # noqa: F401
