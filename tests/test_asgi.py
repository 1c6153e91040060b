"""The ASGI application: Django over HTTP, graphql-transport-ws at /graphql/."""

import json

import pytest
import pytest_asyncio
from asgiref.sync import sync_to_async
from channels.testing import HttpCommunicator, WebsocketCommunicator
from django.db import connections

from shop.asgi import application
from tests.factories import make_product

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest_asyncio.fixture(autouse=True)
async def _close_thread_connections():
    """Views ran in asgiref's shared thread; close its connection so the test
    database can be dropped."""
    yield
    await sync_to_async(connections.close_all)()


async def test_http_goes_through_django():
    communicator = HttpCommunicator(
        application, "GET", "/healthz/", headers=[(b"host", b"localhost")]
    )
    response = await communicator.get_response()
    assert response["status"] == 200
    assert json.loads(response["body"]) == {"status": "ok"}


async def test_graphql_over_http():
    await sync_to_async(make_product)(name="Lamp", variants=[{"price": 3}])
    body = json.dumps({"query": "{ products { totalCount } }"}).encode()
    communicator = HttpCommunicator(
        application,
        "POST",
        "/graphql/",
        body=body,
        headers=[(b"content-type", b"application/json"), (b"host", b"localhost")],
    )
    response = await communicator.get_response()
    assert response["status"] == 200
    assert json.loads(response["body"]) == {"data": {"products": {"totalCount": 1}}}


async def test_websocket_speaks_graphql_transport_ws():
    communicator = WebsocketCommunicator(
        application, "/graphql/", subprotocols=["graphql-transport-ws"]
    )
    connected, subprotocol = await communicator.connect()
    assert connected
    assert subprotocol == "graphql-transport-ws"
    await communicator.send_json_to({"type": "connection_init"})
    assert await communicator.receive_json_from() == {"type": "connection_ack"}
    await communicator.send_json_to({"type": "ping"})
    assert await communicator.receive_json_from() == {"type": "pong"}
    await communicator.disconnect()


async def ws_connect(payload: dict | None):
    communicator = WebsocketCommunicator(
        application, "/graphql/", subprotocols=["graphql-transport-ws"]
    )
    connected, _ = await communicator.connect()
    assert connected
    message = {"type": "connection_init"}
    if payload is not None:
        message["payload"] = payload
    await communicator.send_json_to(message)
    return communicator


async def ws_me(communicator) -> dict:
    await communicator.send_json_to(
        {"id": "1", "type": "subscribe", "payload": {"query": "{ me { email } }"}}
    )
    result = await communicator.receive_json_from()
    assert result["type"] == "next", result
    assert await communicator.receive_json_from() == {"id": "1", "type": "complete"}
    return result["payload"]["data"]


async def test_websocket_signs_in_from_connection_init():
    from graphql_jwt.shortcuts import get_token

    from tests.factories import UserFactory

    user = await sync_to_async(UserFactory)(email="ws@example.com")
    token = await sync_to_async(get_token)(user)
    communicator = await ws_connect({"authorization": f"Bearer {token}"})
    assert await communicator.receive_json_from() == {"type": "connection_ack"}
    assert await ws_me(communicator) == {"me": {"email": "ws@example.com"}}
    await communicator.disconnect()


async def test_websocket_without_authorization_is_anonymous():
    communicator = await ws_connect({})
    assert await communicator.receive_json_from() == {"type": "connection_ack"}
    assert await ws_me(communicator) == {"me": None}
    await communicator.disconnect()


@pytest.mark.parametrize(
    "payload",
    [
        {"authorization": "Bearer garbage"},
        {"authorization": "Token x"},
        {"authorization": 42},
    ],
)
async def test_websocket_with_a_bad_token_is_refused(payload):
    communicator = await ws_connect(payload)
    closed = await communicator.receive_output()
    assert closed["type"] == "websocket.close"
    assert closed["code"] == 4403
    await communicator.disconnect()


async def test_anonymous_catalog_reads_come_from_the_response_cache_until_a_change():
    product = await sync_to_async(make_product)(name="Lamp", variants=[{"price": 3}])
    body = json.dumps({"query": "{ products { edges { node { name } } } }"}).encode()

    async def ask() -> tuple[str | None, list[str]]:
        communicator = HttpCommunicator(
            application,
            "POST",
            "/graphql/",
            body=body,
            headers=[(b"content-type", b"application/json"), (b"host", b"localhost")],
        )
        response = await communicator.get_response()
        assert response["status"] == 200
        headers = dict(response["headers"])
        edges = json.loads(response["body"])["data"]["products"]["edges"]
        x_cache = headers.get(b"x-cache")
        return x_cache and x_cache.decode(), [edge["node"]["name"] for edge in edges]

    assert await ask() == ("MISS", ["Lamp"])
    assert await ask() == ("HIT", ["Lamp"])

    def rename() -> None:
        product.name = "Desk lamp"
        product.save()  # committed at once: the catalog version changes

    await sync_to_async(rename)()
    assert await ask() == ("MISS", ["Desk lamp"])
    assert await ask() == ("HIT", ["Desk lamp"])
