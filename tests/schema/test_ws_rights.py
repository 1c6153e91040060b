"""A socket that receives nothing still loses the rights its user loses: the
periodic re-read (schema.consumers.RECHECK_SECONDS, shortened here) closes it with
4403 once a staff right it was opened with is withdrawn, and leaves alone a socket
whose user kept theirs."""

import pytest
import pytest_asyncio
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import Group, Permission
from django.db import connections
from graphql_jwt.shortcuts import get_token

from schema import consumers
from shop.asgi import application
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

RECHECK = 0.2


@pytest_asyncio.fixture(autouse=True)
async def _close_thread_connections():
    yield
    await sync_to_async(connections.close_all)()


def order_readers() -> tuple:
    """Two members of staff allowed to read orders through one group."""
    readers = Group.objects.create(name="Order readers")
    readers.permissions.add(
        Permission.objects.get(content_type__app_label="orders", codename="view_order")
    )
    staff = [UserFactory(is_staff=True) for _ in range(2)]
    for user in staff:
        user.groups.add(readers)
    return readers, *staff


async def signed_in_socket(user) -> WebsocketCommunicator:
    token = await sync_to_async(get_token)(user)
    socket = WebsocketCommunicator(
        application, "/graphql/", subprotocols=["graphql-transport-ws"]
    )
    assert (await socket.connect())[0]
    await socket.send_json_to(
        {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
    )
    assert await socket.receive_json_from() == {"type": "connection_ack"}
    return socket


async def test_the_periodic_reread_closes_a_socket_whose_staff_right_was_withdrawn(
    monkeypatch,
):
    monkeypatch.setattr(consumers, "RECHECK_SECONDS", RECHECK)
    readers, demoted, kept = await sync_to_async(order_readers)()
    losing, keeping = await signed_in_socket(demoted), await signed_in_socket(kept)
    try:
        # several re-reads with the rights unchanged: both stay open
        assert await losing.receive_nothing(timeout=RECHECK * 3)

        await sync_to_async(demoted.groups.remove)(readers)

        closed = await losing.receive_output(timeout=RECHECK * 10)
        assert closed == {
            "type": "websocket.close",
            "code": 4403,
            "reason": consumers.RIGHTS_WITHDRAWN,
        }
        assert await keeping.receive_nothing(timeout=RECHECK * 3)
    finally:
        await losing.disconnect()
        await keeping.disconnect()
