"""In allow-list mode (GRAPHQL_PERSISTED_QUERIES_ONLY) GraphQL over WebSocket runs
only registered documents too, over both protocols: a socket is no way around it."""

import pytest
import pytest_asyncio
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connections

from shop.asgi import application
from shop.core import persisted_queries

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

ALLOWED = "query Allowed { attributes { slug } }"
OTHER = "query Other { categories { slug } }"
# The legacy protocol runs subscriptions only. Without an order this one ends in
# its own INVALID error, once it ran.
SUBSCRIPTION = "subscription Follow { orderStatusChanged { status } }"


@pytest_asyncio.fixture(autouse=True)
async def _close_thread_connections():
    persisted_queries.forget_all_in_process()
    yield
    persisted_queries.forget_all_in_process()
    await sync_to_async(connections.close_all)()


@pytest.fixture
def allow_list_only(settings):
    settings.GRAPHQL_PERSISTED_QUERIES_ONLY = True
    persisted_queries.allow([ALLOWED, SUBSCRIPTION])


async def connected(protocol: str) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(
        application, "/graphql/", subprotocols=[protocol]
    )
    assert (await communicator.connect())[0]
    await communicator.send_json_to({"type": "connection_init"})
    assert await communicator.receive_json_from() == {"type": "connection_ack"}
    return communicator


async def received(socket: WebsocketCommunicator) -> dict:
    """The next message that is not a legacy keep-alive ("ka")."""
    while (message := await socket.receive_json_from())["type"] == "ka":
        pass
    return message


async def test_graphql_transport_ws_runs_only_registered_documents(allow_list_only):
    socket = await connected("graphql-transport-ws")
    await socket.send_json_to(
        {"id": "1", "type": "subscribe", "payload": {"query": OTHER}}
    )
    refused = await received(socket)
    await socket.send_json_to(
        {"id": "2", "type": "subscribe", "payload": {"query": ALLOWED}}
    )
    answered = await received(socket)
    await socket.disconnect()

    assert (refused["id"], refused["type"]) == ("1", "error")
    [error] = refused["payload"]
    assert error["extensions"]["code"] == "PERSISTED_QUERY_NOT_ALLOWED"
    assert answered == {
        "id": "2",
        "type": "next",
        "payload": {"data": {"attributes": []}},
    }


async def test_legacy_graphql_ws_runs_only_registered_documents(allow_list_only):
    socket = await connected("graphql-ws")
    await socket.send_json_to({"id": "1", "type": "start", "payload": {"query": OTHER}})
    refused = await received(socket)
    await socket.send_json_to(
        {"id": "2", "type": "start", "payload": {"query": SUBSCRIPTION}}
    )
    ran = await received(socket)
    await socket.disconnect()

    assert (refused["id"], refused["type"]) == ("1", "error")
    assert refused["payload"]["extensions"]["code"] == "PERSISTED_QUERY_NOT_ALLOWED"
    assert ran["id"] == "2"
    [error] = ran["payload"]["errors"]
    assert error["extensions"]["code"] == "INVALID"


async def test_without_the_mode_any_document_runs_over_websocket(db):
    socket = await connected("graphql-transport-ws")
    await socket.send_json_to(
        {"id": "1", "type": "subscribe", "payload": {"query": OTHER}}
    )
    answered = await received(socket)
    await socket.disconnect()

    assert answered == {
        "id": "1",
        "type": "next",
        "payload": {"data": {"categories": []}},
    }
