"""How the shop is served: the server never rewrites the client's address.

uvicorn, and gunicorn's uvicorn worker, trust ``X-Forwarded-For`` from loopback by
default (``--proxy-headers``; ``--forwarded-allow-ips`` or FORWARDED_ALLOW_IPS say
from whom) and replace the ASGI scope's client with what the header claims. A
client talking to the shop directly could then pick its own IP for the sign-in
throttle. The shop has one rule instead: DJANGO_TRUSTED_PROXY_COUNT says how many
proxies append to ``X-Forwarded-For``, and the app reads the header itself
(schema.context.client_ip); with 0 the connection's address is the client's.

So every way the shop is served turns the server's own proxy handling off:

- uvicorn: ``uvicorn shop.asgi:application --no-proxy-headers ...``
- gunicorn: ``gunicorn shop.asgi:application -k shop.serve.UvicornWorker ...``
  (this module's worker: gunicorn has no switch for it, and its
  ``forwarded_allow_ips`` follows FORWARDED_ALLOW_IPS from the environment).
"""

from uvicorn_worker import UvicornWorker as _UvicornWorker


class UvicornWorker(_UvicornWorker):
    """uvicorn_worker's worker with uvicorn's proxy headers off, whatever
    gunicorn's ``forwarded_allow_ips`` or the environment say."""

    CONFIG_KWARGS = {**_UvicornWorker.CONFIG_KWARGS, "proxy_headers": False}
