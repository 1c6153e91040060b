from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from shop.accounts.authentication import authenticate_bearer


class BearerAuthenticationMiddleware:
    """Sets ``request.bearer``: who the request's ``Authorization: Bearer`` names.

    The GraphQL API authenticates with access tokens only, never with the admin's
    session cookie, so a page on another site cannot act as a signed-in staff
    member through the CSRF-exempt endpoint. Resolved lazily: a request that never
    asks costs no query.
    """

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        header = request.META.get("HTTP_AUTHORIZATION")
        request.bearer = SimpleLazyObject(lambda: authenticate_bearer(header))
        return self.get_response(request)
