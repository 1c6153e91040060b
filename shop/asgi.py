"""ASGI entry point: Django for HTTP, GraphQL over WebSocket at /graphql/.

HTTP goes through the response cache first (schema.response_cache): anonymous
catalog reads it holds are answered from Redis without reaching Django.
"""

import os
from datetime import timedelta

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")

# Django must be set up before anything imports models (the schema does).
django_application = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import re_path  # noqa: E402

from schema import schema  # noqa: E402
from schema.consumers import ShopGraphQLWSConsumer  # noqa: E402
from schema.response_cache import ResponseCache  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": ResponseCache(django_application),
        "websocket": URLRouter(
            [
                re_path(
                    r"^graphql/?$",
                    ShopGraphQLWSConsumer.as_asgi(
                        schema=schema,
                        # graphql-ws (legacy) sends "ka" keep-alives; for
                        # graphql-transport-ws the server answers pings, and
                        # uvicorn pings every socket (--ws-ping-interval, 20 s).
                        keep_alive=True,
                        keep_alive_interval=15,
                        connection_init_wait_timeout=timedelta(seconds=10),
                    ),
                )
            ]
        ),
    }
)
