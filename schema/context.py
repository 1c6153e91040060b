"""Who is asking, for resolvers."""

from django.contrib.auth.models import AnonymousUser
from strawberry.types import Info


def current_user(info: Info):
    """The request's user (an AnonymousUser when nobody is signed in)."""
    request = getattr(info.context, "request", None)
    if request is None and isinstance(info.context, dict):
        request = info.context.get("request")
    return getattr(request, "user", None) or AnonymousUser()
