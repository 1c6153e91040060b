"""One execution of a subscription event per process, however many sockets get it.

When the same event reaches a thousand sockets that asked for the same thing (the
same document, variables and operation name, as the same viewer), graphql-core
would execute the selection set a thousand times over the same event and build a
thousand equal payloads. ``send_shared`` executes it once per process (the first
subscriber to get there; the others wait for that one) and sends the payload to
each operation with its own id, as strawberry's graphql-transport-ws handler
would (the payload encoded to JSON once).

Only a result without errors is shared: a result with errors (whose messages carry
the operation's request id, and go through the schema's error extensions) is left
to strawberry's own path, per subscriber. Only graphql-transport-ws operations
(those whose context carries the ``operation``) are served here; the legacy
graphql-ws protocol takes the ordinary path.
"""

import asyncio
import json
from collections import OrderedDict
from collections.abc import Hashable

from graphql import DocumentNode, execute
from strawberry.types import Info

# Recent events' payloads: (loop, document, operation name, variables, viewer,
# event) -> a future of the payload as JSON, or of None when it had errors.
_RESULTS: "OrderedDict[tuple, asyncio.Future]" = OrderedDict()
_RESULTS_KEPT = 512


def _viewer(context: dict) -> Hashable:
    """Who the result is computed for: the signed-in user, or anonymous."""
    auth = context.get("auth")
    user = getattr(auth, "user", None)
    if auth is None or not getattr(auth, "is_authenticated", False) or user is None:
        return None
    return user.pk


async def _execute(info: Info, operation, event) -> str | None:
    raw = info._raw_info
    document = DocumentNode(
        definitions=(raw.operation, *raw.fragments.values()),
    )
    result = execute(
        raw.schema,
        document,
        event,
        info.context,
        operation.variables,
        operation.operation_name,
    )
    if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
        result = await result
    if result.errors:
        return None
    payload: dict = {"data": result.data}
    if result.extensions:
        payload["extensions"] = result.extensions
    return json.dumps(payload)


class SharedResults:
    """The events of one subscription, each executed once per process for every
    subscription asking the same, and sent to this one's socket."""

    __slots__ = ("info", "operation", "consumer", "key", "message_head")

    def __init__(self, info: Info) -> None:
        self.info = info
        context = info.context
        self.operation = context.get("operation") if isinstance(context, dict) else None
        self.key = None
        if self.operation is None:
            return
        try:
            variables = json.dumps(self.operation.variables, sort_keys=True)
        except TypeError:  # not from JSON: never shared
            self.operation = None
            return
        self.consumer = context["ws"]
        self.key = (
            id(asyncio.get_running_loop()),
            self.operation.query,
            self.operation.operation_name,
            variables,
            _viewer(context),
        )
        # strawberry's "next" message, up to its payload
        self.message_head = (
            f'{{"id": {json.dumps(self.operation.id)}, "type": "next", "payload": '
        )

    async def send(self, event, event_key: Hashable) -> bool:
        """Send ``event``'s result; False when it cannot be shared (the caller
        then yields the event for strawberry to execute and send)."""
        if self.operation is None:
            return False
        key = (*self.key, event_key)
        shared = _RESULTS.get(key)
        if shared is None:
            shared = asyncio.ensure_future(_execute(self.info, self.operation, event))
            _RESULTS[key] = shared
            while len(_RESULTS) > _RESULTS_KEPT:
                _RESULTS.popitem(last=False)
        if shared.done():
            payload = None if shared.exception() else shared.result()
        else:
            try:
                payload = await asyncio.shield(shared)
            except Exception:  # the shared execution failed: the usual path
                return False
        if payload is None:
            return False
        if not self.operation.completed:
            await self.consumer.send(text_data=f"{self.message_head}{payload}}}")
        return True
