"""Over WebSocket each operation gets a request id of its own: in the answer of an
unexpected error and in the log lines about it."""

import pytest
import pytest_asyncio
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connections

from shop.asgi import application
from shop.catalog import selectors

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest_asyncio.fixture(autouse=True)
async def _close_thread_connections():
    yield
    await sync_to_async(connections.close_all)()


async def test_an_unexpected_error_over_websocket_names_its_log_line(
    log_output, monkeypatch
):
    def broken():
        raise RuntimeError("attribute table exploded")

    monkeypatch.setattr(selectors, "attribute_list", broken)
    communicator = WebsocketCommunicator(
        application, "/graphql/", subprotocols=["graphql-transport-ws"]
    )
    assert (await communicator.connect())[0]
    await communicator.send_json_to({"type": "connection_init"})
    assert await communicator.receive_json_from() == {"type": "connection_ack"}
    await communicator.send_json_to(
        {
            "id": "1",
            "type": "subscribe",
            "payload": {"query": "query Facets { attributes { slug } }"},
        }
    )
    message = await communicator.receive_json_from()
    await communicator.disconnect()

    [error] = message["payload"]["errors"]
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    request_id = error["extensions"]["requestId"]
    [line] = [line for line in log_output.lines() if line["level"] == "ERROR"]
    assert line["request_id"] == request_id
    assert line["operation"] == "Facets"
    assert "RuntimeError: attribute table exploded" in line["exc_info"]
