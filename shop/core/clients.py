"""Who a request comes from, for limits counted per client."""

import ipaddress

from django.conf import settings


def client_ip(*, remote_addr: str | None, forwarded_for: str | None) -> str | None:
    """The client's IP: the connection's, or X-Forwarded-For's behind trusted
    proxies (DJANGO_TRUSTED_PROXY_COUNT: each appends the address it saw)."""
    proxies = settings.TRUSTED_PROXY_COUNT
    forwarded = [
        part.strip() for part in (forwarded_for or "").split(",") if part.strip()
    ]
    if proxies and len(forwarded) >= proxies:
        return forwarded[-proxies]
    return remote_addr


def client_key(ip: str | None) -> str:
    """What a per-client limit counts under: an IPv4 address, or an IPv6
    address's /64 (one subscriber's network, every address of which is theirs to
    use), or the text as given when it is not an address."""
    if not ip:
        return "unknown"
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return "other:" + ip.encode(errors="backslashreplace").hex()[:128]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)
