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

The worker also serves WebSockets without per-message compression (order events
are about 150 bytes: deflating them cost a fifth of the CPU of delivering one to
1,000 subscribers, and memory per socket), and tunes the garbage collector once
the application is loaded (``tune_gc``).
"""

import gc

from uvicorn_worker import UvicornWorker as _UvicornWorker

# Collections of the youngest generation every 50,000 allocations instead of 700,
# and the oldest one more rarely: a full collection walks every object (a worker
# holding 1,000 sockets has a 200+ MiB heap: 0.6-0.9 s each, measured), and what
# triggers them is the churn of requests and events, not garbage that needs it.
GC_THRESHOLDS = (50_000, 20, 10)


def tune_gc() -> None:
    """After the application is imported: its objects (Django, the schema) are
    moved out of the collector's sight for good (``gc.freeze``), and collections
    are made rarer (GC_THRESHOLDS)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


class UvicornWorker(_UvicornWorker):
    """uvicorn_worker's worker with uvicorn's proxy headers off, whatever
    gunicorn's ``forwarded_allow_ips`` or the environment say; WebSockets without
    per-message compression; the garbage collector tuned once the app is loaded."""

    CONFIG_KWARGS = {
        **_UvicornWorker.CONFIG_KWARGS,
        "proxy_headers": False,
        "ws_per_message_deflate": False,
    }

    def load_wsgi(self) -> None:
        super().load_wsgi()
        tune_gc()
