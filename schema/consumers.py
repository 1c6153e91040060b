"""GraphQL over WebSocket at /graphql/: graphql-transport-ws (queries, mutations,
subscriptions) and the legacy graphql-ws (subscriptions), signed in by the
``connection_init`` payload.

A connection's rights follow its user: each operation, and each subscription
event before it is delivered, re-reads the user and checks the access token's
expiry, and the socket is closed (4403) when the token expires, the user is
deactivated or loses a staff right it held when the socket opened (a permission,
staff or superuser status), so no subscription outlives them. A socket that
receives nothing is re-checked every RECHECK_SECONDS. A client renews by
reconnecting with a fresh access token (and gets the rights it has then).
"""

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterable

from asgiref.sync import ThreadSensitiveContext
from channels.db import database_sync_to_async
from graphql import parse
from strawberry import UNSET
from strawberry.channels import GraphQLWSConsumer
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import (
    BaseGraphQLWSHandler,
)
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType
from strawberry.utils.aio import aclosing
from strawberry.utils.operation import get_operation_type

from schema.logging import with_request_id
from schema.persisted import refusal_over_socket
from shop.accounts.authentication import (
    Authentication,
    access_token_expiry,
    active_user,
    anonymous,
    authenticate_bearer,
)
from shop.accounts.events import USER_REVOKED, user_group
from shop.core.channel_layers import group_fanout
from shop.core.logs import LogScope, enter_scope, exit_scope
from shop.core.permissions import staff_permissions

logger = logging.getLogger(__name__)

# How often a signed-in socket re-reads its user, besides the deactivation event.
RECHECK_SECONDS = 60.0
EXPIRED = "The access token has expired: refresh it and reconnect."
DISABLED = "The account is disabled."
RIGHTS_WITHDRAWN = "The account's rights have changed: reconnect."
NO_RIGHTS: frozenset[str] = frozenset()


def _signed_in(authorization: str | None) -> tuple[Authentication, frozenset[str]]:
    """The connection's authentication, and the staff rights it opens with."""
    auth = authenticate_bearer(authorization)
    return auth, staff_permissions(auth.user) if not auth.error else NO_RIGHTS


def _standing(user_id: int, rights: frozenset[str]):
    """The user re-read, or None and why the socket must close: deactivated, or
    a right it was opened with withdrawn (rights gained are simply used)."""
    user = active_user(user_id)
    if user is None:
        return None, DISABLED
    if not rights <= staff_permissions(user):
        return None, RIGHTS_WITHDRAWN
    return user, None


class ShopTransportWSHandler(BaseGraphQLTransportWSHandler):
    """graphql-transport-ws with a fresh context per operation (like a request
    over HTTP), and queries and mutations run as over HTTP: ``execute_sync`` in a
    thread of their own, since the resolvers are synchronous Django code."""

    async def run_operation(self, operation) -> None:
        scope = LogScope(request_id=uuid.uuid4().hex)
        token = enter_scope(scope)
        try:
            context = await self.view.operation_context(self.context, scope)
            if context is None:  # the connection was closed: its rights are gone
                return
            # schema.shared_results sends a subscription's events to the operation
            context["operation"] = operation
            refused = await refusal_over_socket(operation.query)
            if refused is not None:  # GRAPHQL_PERSISTED_QUERIES_ONLY
                await operation.send_initial_errors([refused])
                return
            try:
                kind = get_operation_type(
                    parse(operation.query), operation.operation_name
                )
            except Exception:  # noqa: BLE001 - strawberry reports a bad document
                kind = None
            if kind in (OperationType.QUERY, OperationType.MUTATION):
                await self._run_sync(operation, context, scope)
            else:
                await self._run_stream(operation, context)
        finally:
            exit_scope(token)

    async def _run_sync(self, operation, context, scope) -> None:
        def execute():
            return self.schema.execute_sync(
                operation.query,
                variable_values=operation.variables,
                context_value=context,
                operation_name=operation.operation_name,
            )

        try:
            async with ThreadSensitiveContext():
                result = await database_sync_to_async(execute)()
            if (
                result.data is None
                and result.errors
                and all(error.path is None for error in result.errors)
            ):
                # A document refused before it ran: the protocol's "error" message.
                await self._handle_pre_execution_error(
                    operation, PreExecutionError(data=None, errors=result.errors)
                )
                return
            payload = {"data": result.data}
            if result.errors:
                payload["errors"] = with_request_id(
                    [error.formatted for error in result.errors], scope.request_id
                )
            if result.extensions:
                payload["extensions"] = result.extensions
            await operation.send_operation_message(
                {"id": operation.id, "type": "next", "payload": payload}
            )
            await operation.send_operation_message(
                {"id": operation.id, "type": "complete"}
            )
        except Exception as error:
            await self._operation_failed(operation, error)

    async def _run_stream(self, operation, context) -> None:
        # strawberry's own run_operation, with the operation's context.
        try:
            source = await self.schema.stream(
                operation.query,
                variable_values=operation.variables,
                context_value=context,
                root_value=self.root_value,
                operation_name=operation.operation_name,
            )
            async with aclosing(source):
                await self._send_result_stream(operation, source)
            await operation.send_operation_message(
                {"id": operation.id, "type": "complete"}
            )
        except Exception as error:
            await self._operation_failed(operation, error)

    async def _operation_failed(self, operation, error: Exception) -> None:
        if error.__class__.__name__ == "_OperationStreamClosed":
            return  # the client completed it or left
        await self.handle_task_exception(error)
        with contextlib.suppress(Exception):
            await operation.send_operation_message(
                {"id": operation.id, "type": "complete"}
            )
        self.operations.pop(operation.id, None)
        raise error


class ShopLegacyWSHandler(BaseGraphQLWSHandler):
    """The legacy graphql-ws protocol, refusing a document that is not
    allow-listed (GRAPHQL_PERSISTED_QUERIES_ONLY) with its "error" message."""

    async def handle_async_results(
        self, operation_id, query, operation_name, variables
    ) -> None:
        refused = await refusal_over_socket(query)
        if refused is not None:
            await self.send_message(
                {"type": "error", "id": operation_id, "payload": refused.formatted}
            )
            self.tasks.pop(operation_id, None)
            return
        await super().handle_async_results(
            operation_id, query, operation_name, variables
        )


class _SocketRequest:
    """Enough of an HTTP request for schema.context: the client's address and
    headers (for the IP throttles) and the operation's request id."""

    def __init__(self, scope: dict, request_id: str) -> None:
        client = scope.get("client") or (None, None)
        self.META = {"REMOTE_ADDR": client[0]}
        for name, value in scope.get("headers", []):
            key = "HTTP_" + name.decode("latin1").upper().replace("-", "_")
            self.META[key] = value.decode("latin1")
        self.request_id = request_id


class ShopGraphQLWSConsumer(GraphQLWSConsumer):
    """Reads ``{"authorization": "Bearer <token>"}`` from ``connection_init``.

    No authorization: an anonymous connection (a guest following an order by its
    token). A bad or expired token: the connection is refused (4403), so a client
    never believes it is signed in when it is not.
    """

    graphql_transport_ws_handler_class = ShopTransportWSHandler
    graphql_ws_handler_class = ShopLegacyWSHandler

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._watchdog: asyncio.Task | None = None
        self._refused = False

    # ---------------------------------------------------------------- who

    async def on_ws_connect(self, context):
        params = context.get("connection_params") or {}
        authorization = params.get("authorization") or params.get("Authorization")
        if authorization is not None and not isinstance(authorization, str):
            raise ConnectionRejectionError({"reason": "authorization must be a string"})
        auth, rights = await database_sync_to_async(_signed_in)(authorization)
        if auth.error:
            raise ConnectionRejectionError({"reason": auth.error})
        context["auth"] = auth
        if auth.is_authenticated:
            context["user_id"] = auth.user.pk
            context["expires_at"] = access_token_expiry(authorization)
            context["rights"] = rights
            self._watchdog = asyncio.create_task(
                self._watch(auth.user.pk, context["expires_at"], rights)
            )
        return UNSET

    async def operation_auth(self, context: dict) -> Authentication | None:
        """The connection's authentication checked now: the token unexpired, the
        user still active and holding the staff rights the socket opened with
        (re-read). None when it is not: the socket is closed."""
        if self._refused:
            return None
        user_id = context.get("user_id")
        if user_id is None:
            return context.get("auth") or anonymous()
        if time.time() >= context["expires_at"]:
            await self.refuse(EXPIRED)
            return None
        user, refusal = await database_sync_to_async(_standing)(
            user_id, context.get("rights", NO_RIGHTS)
        )
        if user is None:
            await self.refuse(refusal)
            return None
        return Authentication(user)

    async def refuse(self, reason: str) -> None:
        """Close the socket with 4403, once (the watchdog, a new operation and a
        subscription's event may notice at the same time)."""
        if self._refused:
            return
        self._refused = True
        await self.close(code=4403, reason=reason)

    async def operation_context(self, connection: dict, scope: LogScope):
        """A fresh context per operation, like a request over HTTP."""
        auth = await self.operation_auth(connection)
        if auth is None:
            return None
        return {
            "request": _SocketRequest(self.scope, scope.request_id),
            "ws": self,
            "auth": auth,
            "user_id": connection.get("user_id"),
            "expires_at": connection.get("expires_at"),
            "rights": connection.get("rights", NO_RIGHTS),
            "connection_params": connection.get("connection_params"),
        }

    async def _watch(
        self, user_id: int, expires_at: float, rights: frozenset[str]
    ) -> None:
        """Close the socket when the token expires, the user is deactivated (the
        deactivation event) or, found by the periodic re-read, deactivated
        without an event or stripped of a staff right the socket opened with."""
        async with self.listen(USER_REVOKED, [user_group(user_id)]) as events:
            while True:
                left = expires_at - time.time()
                if left <= 0:
                    await self.refuse(EXPIRED)
                    return
                try:
                    await asyncio.wait_for(events.get(), min(left, RECHECK_SECONDS))
                except TimeoutError:
                    user, refusal = await database_sync_to_async(_standing)(
                        user_id, rights
                    )
                    if user is not None:
                        continue
                    await self.refuse(refusal)
                    return
                await self.refuse(DISABLED)
                return

    async def disconnect(self, code: int) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._watchdog
        await super().disconnect(code)

    # ---------------------------------------------------------------- groups

    @contextlib.asynccontextmanager
    async def listen(self, kind: str, groups: Iterable[str]) -> AsyncIterator:
        """Messages of ``kind`` sent to ``groups``, in order, as an asyncio.Queue.

        The groups are joined by the process, once for all its sockets
        (shop.core.channel_layers.GroupFanout): a group_send reaches the process as
        one message, put on the queue of each listener in memory. Each
        subscription has its own queue, so one ending takes nothing from another
        one on the same socket; the process leaves a group with its last listener
        (or when the sockets close).
        """
        fanout = group_fanout(self.channel_layer)
        queue: asyncio.Queue = asyncio.Queue()
        joined: list[str] = []
        try:
            for group in groups:
                await fanout.join(group, kind, queue)
                joined.append(group)
            yield queue
        finally:
            for group in joined:
                try:
                    await fanout.leave(group, queue)
                except Exception:  # it expires with the group (a day)
                    logger.exception("Leaving group %s failed", group)
