"""The production command line: gunicorn with two uvicorn workers
(shop.serve.UvicornWorker), DJANGO_DEBUG off, on PostgreSQL and Redis, serving a
storefront over HTTP and a live order subscription over WebSocket."""

import os
import re
import urllib.request

import pytest
from websockets.sync.client import connect

from shop.orders import services as order_services
from shop.orders.models import OrderStatus
from tests.e2e.servers import Storefront, gunicorn, server_database_url
from tests.e2e.ws_client import Connection, ws_url
from tests.factories import make_product
from tests.orders_helpers import guest_cart, guest_checkout

pytestmark = pytest.mark.django_db(transaction=True)

FOLLOW = """
subscription($token: String) {
  orderStatusChanged(token: $token, includeCurrent: true) {
    status previousStatus order { number }
  }
}"""


@pytest.fixture
def server(tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": server_database_url(),
        "REDIS_URL": os.environ["REDIS_URL"],
        "DJANGO_DEBUG": "false",
        "DJANGO_LOG_LEVEL": "INFO",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        # a TLS-terminating proxy in front says https with this header
        "DJANGO_SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto",
        "DJANGO_SECURE_SSL_REDIRECT": "true",
    }
    log = tmp_path / "gunicorn.log"
    with gunicorn(env, log, workers=2) as base:
        yield base, log


def test_two_workers_serve_http_and_a_live_subscription(server):
    base, log = server
    workers = set(re.findall(r"Booting worker with pid: (\d+)", log.read_text()))
    assert len(workers) == 2, log.read_text()

    variant = make_product(
        name="Lumen X2", variants=[{"quantity_available": 5}]
    ).variants.get()
    # behind the TLS-terminating proxy
    storefront = Storefront(base, headers={"X-Forwarded-Proto": "https"})
    for _ in range(6):  # several connections: both workers answer some
        listed = storefront("{ products(first: 5) { edges { node { name } } } }")
        assert [e["node"]["name"] for e in listed["products"]["edges"]] == ["Lumen X2"]

    # plain http straight to the app is sent to https
    request = urllib.request.Request(f"{base}/graphql/", method="GET")
    opener = urllib.request.build_opener(NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as redirected:
        opener.open(request, timeout=10)
    assert redirected.value.code == 301
    assert redirected.value.headers["Location"].startswith("https://")

    order = guest_checkout(guest_cart((variant, 1)))
    with Connection.connect(ws_url(base)) as socket:
        watching = socket.subscribe(FOLLOW, token=order.token)
        first = watching.next_event()["data"]["orderStatusChanged"]
        assert (first["status"], first["previousStatus"]) == ("PENDING_PAYMENT", None)
        order_services.order_transition(order_id=order.pk, to_status=OrderStatus.PAID)
        paid = watching.next_event()["data"]["orderStatusChanged"]
        assert (paid["status"], paid["previousStatus"]) == ("PAID", "PENDING_PAYMENT")
        assert paid["order"]["number"] == order.number
        assert watching.quiet(1.0) == []


def test_websockets_are_not_compressed(server):
    """Order events are tiny: per-message deflate would cost CPU and memory per
    socket for nothing, so the worker declines it when a client offers it."""
    base, _ = server
    with connect(
        ws_url(base), subprotocols=["graphql-transport-ws"], compression="deflate"
    ) as socket:
        assert socket.subprotocol == "graphql-transport-ws"
        assert socket.response.headers.get("Sec-WebSocket-Extensions") is None
        offered = socket.request.headers["Sec-WebSocket-Extensions"]
        assert "permessage-deflate" in offered


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None
