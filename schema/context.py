"""Who is asking, for resolvers, over HTTP and over WebSocket."""

from strawberry.types import Info

from shop.accounts.authentication import Authentication, anonymous
from shop.core.clients import client_ip as shop_client_ip


def _request(info: Info):
    context = info.context
    if isinstance(context, dict):
        return context.get("request")
    return getattr(context, "request", None)


def request_of(info: Info):
    """The Django request being answered (None over WebSocket)."""
    request = _request(info)
    return request if hasattr(request, "build_absolute_uri") else None


def current_auth(info: Info) -> Authentication:
    """The request's Bearer authentication (never the admin's session cookie).

    HTTP requests get it from BearerAuthenticationMiddleware; WebSocket connections
    from their ``connection_init`` payload (see schema.consumers).
    """
    context = info.context
    if isinstance(context, dict) and "auth" in context:
        return context["auth"]
    return getattr(_request(info), "bearer", None) or anonymous()


def current_user(info: Info):
    """The signed-in user, or an AnonymousUser."""
    return current_auth(info).user


def client_ip(info: Info) -> str | None:
    """The client's IP: the connection's, or X-Forwarded-For's behind trusted
    proxies (DJANGO_TRUSTED_PROXY_COUNT)."""
    return request_client_ip(_request(info))


def request_client_ip(request) -> str | None:
    """``client_ip`` of a Django request (None for anything else)."""
    meta = getattr(request, "META", None)
    if meta is None:
        return None
    return shop_client_ip(
        remote_addr=meta.get("REMOTE_ADDR"),
        forwarded_for=meta.get("HTTP_X_FORWARDED_FOR"),
    )


def order_grants(info: Info) -> set[int]:
    """Orders this request may read beyond its user's own: the ones it named by
    their secret token, or just placed as a guest."""
    context = info.context
    holder = context if isinstance(context, dict) else _request(info)
    if isinstance(holder, dict):
        return holder.setdefault("order_grants", set())
    if not hasattr(holder, "order_grants"):
        holder.order_grants = set()
    return holder.order_grants
