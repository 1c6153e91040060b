"""Access tokens name the user's id: a new account with an old address is not
signed in by the old account's token, over HTTP or WebSocket."""

import jwt
import pytest
import pytest_asyncio
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connections
from graphql_jwt.settings import jwt_settings
from graphql_jwt.shortcuts import get_token
from graphql_jwt.utils import get_payload

from shop.accounts import services
from shop.asgi import application
from tests.factories import UserFactory

PASSWORD = "a long passphrase 1"
ME = "{ me { email } }"
VERIFY = """mutation($token: String!) {
  verifyToken(token: $token) { valid email errors { field code message } } }"""


@pytest.mark.django_db
def test_the_token_names_the_user_id_and_not_the_email():
    user = UserFactory(email="buyer@example.com")
    payload = get_payload(get_token(user))
    assert payload["sub"] == str(user.pk)
    assert "email" not in payload


@pytest.mark.django_db
def test_a_deleted_users_token_does_not_sign_in_the_next_owner_of_the_email(gql):
    old = UserFactory(email="buyer@example.com")
    token = get_token(old)
    old.delete()
    services.user_register(email="buyer@example.com", password=PASSWORD)

    gql.authorize(f"Bearer {token}")
    assert gql.ok(ME) == {"me": None}
    assert gql.ok(VERIFY, {"token": token})["verifyToken"] == {
        "valid": False,
        "email": None,
        "errors": [
            {
                "field": "token",
                "code": "INVALID_TOKEN",
                "message": "The token is invalid.",
            }
        ],
    }


@pytest.mark.django_db
def test_a_token_issued_by_email_before_the_change_is_refused(gql):
    user = UserFactory(email="buyer@example.com")
    legacy = {"email": user.email, "exp": get_payload(get_token(user))["exp"]}
    token = jwt.encode(
        legacy, jwt_settings.JWT_SECRET_KEY, algorithm=jwt_settings.JWT_ALGORITHM
    )
    gql.authorize(f"Bearer {token}")
    assert gql.ok(ME) == {"me": None}
    gql.login(user)
    assert gql.ok(ME) == {"me": {"email": "buyer@example.com"}}


@pytest.mark.parametrize("subject", ["0", "x1", "١", "9" * 30, ""])
@pytest.mark.django_db
def test_a_signed_token_naming_no_user_is_anonymous(gql, subject):
    UserFactory(email="buyer@example.com")
    token = jwt.encode(
        {"sub": subject, "exp": 4102444800},
        jwt_settings.JWT_SECRET_KEY,
        algorithm=jwt_settings.JWT_ALGORITHM,
    )
    gql.authorize(f"Bearer {token}")
    assert gql.ok(ME) == {"me": None}


@pytest_asyncio.fixture
async def _close_thread_connections():
    """The consumer ran in asgiref's thread; close its connection so the test
    database can be dropped."""
    yield
    await sync_to_async(connections.close_all)()


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
@pytest.mark.usefixtures("_close_thread_connections")
async def test_the_websocket_refuses_a_deleted_users_token_too():
    old = await sync_to_async(UserFactory)(email="ws@example.com")
    token = await sync_to_async(get_token)(old)
    await sync_to_async(old.delete)()
    await sync_to_async(UserFactory)(email="ws@example.com")
    communicator = WebsocketCommunicator(
        application, "/graphql/", subprotocols=["graphql-transport-ws"]
    )
    connected, _ = await communicator.connect()
    assert connected
    await communicator.send_json_to(
        {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
    )
    closed = await communicator.receive_output()
    assert (closed["type"], closed["code"]) == ("websocket.close", 4403)
