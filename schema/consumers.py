"""GraphQL over WebSocket (graphql-transport-ws), signed in by connection_init."""

from channels.db import database_sync_to_async
from strawberry import UNSET
from strawberry.channels import GraphQLWSConsumer
from strawberry.exceptions import ConnectionRejectionError

from shop.accounts.authentication import authenticate_bearer


class ShopGraphQLWSConsumer(GraphQLWSConsumer):
    """Reads ``{"authorization": "Bearer <token>"}`` from ``connection_init``.

    No authorization: an anonymous connection (a guest following an order by its
    token). A bad or expired token: the connection is refused (4403), so a client
    never believes it is signed in when it is not.
    """

    async def on_ws_connect(self, context):
        params = context.get("connection_params") or {}
        authorization = params.get("authorization") or params.get("Authorization")
        if authorization is not None and not isinstance(authorization, str):
            raise ConnectionRejectionError({"reason": "authorization must be a string"})
        auth = await database_sync_to_async(authenticate_bearer)(authorization)
        if auth.error:
            raise ConnectionRejectionError({"reason": auth.error})
        context["auth"] = auth
        return UNSET
