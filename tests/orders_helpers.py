"""Building blocks for order tests: carts and checkouts through the services."""

from django.contrib.auth.models import AnonymousUser

from shop.cart import services as cart_services
from shop.orders import services

ADDRESS = services.AddressData(
    name="Ada Lovelace",
    line1="12 St James's Square",
    city="London",
    postal_code="SW1Y 4JH",
    country="GB",
)
ADDRESS_INPUT = {
    "name": "Ada Lovelace",
    "line1": "12 St James's Square",
    "city": "London",
    "postalCode": "SW1Y 4JH",
    "country": "gb",
}


def guest_cart(*lines) -> str:
    """A guest cart holding ``(variant, quantity)`` lines; returns its token."""
    snapshot = cart_services.cart_lines_add(
        user=AnonymousUser(),
        token=None,
        lines=[(variant.pk, quantity) for variant, quantity in lines],
    )
    return snapshot.token


def guest_cart_add(token: str, *lines) -> None:
    cart_services.cart_lines_add(
        user=AnonymousUser(),
        token=token,
        lines=[(variant.pk, quantity) for variant, quantity in lines],
    )


def user_cart(user, *lines) -> None:
    cart_services.cart_lines_add(
        user=user,
        token=None,
        lines=[(variant.pk, quantity) for variant, quantity in lines],
    )


def guest_checkout(token: str, **kwargs):
    kwargs.setdefault("email", "guest@example.com")
    kwargs.setdefault("address", ADDRESS)
    return services.checkout_complete(user=AnonymousUser(), cart_token=token, **kwargs)
