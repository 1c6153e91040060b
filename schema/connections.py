"""Cursor connections as the shop serves them: true paging arguments and page flags.

strawberry-django's keyset connection (``DjangoCursorConnection``) is kept as it is,
so its nested-connection prefetching still works; what changes sits in its field
extension, which every connection field gets through ``ConnectionField``:

- ``first``/``last``/``before``/``after`` say what they do (strawberry describes
  ``last`` as "come after the specified cursor").
- ``hasPreviousPage``/``hasNextPage`` answer in both paging directions. The page's
  own query answers the direction it pages in (it fetches one row more than asked
  for); the other direction follows from the cursor without a query: a cursor is an
  edge of this list, so with ``after`` that edge precedes the page, and with
  ``before`` it follows it.
"""

import inspect
from typing import Any

from strawberry import relay
from strawberry.types import get_object_definition
from strawberry_django.fields.field import (
    StrawberryDjangoConnectionExtension,
    StrawberryDjangoField,
)

ARGUMENT_DESCRIPTIONS = {
    "first": "The first n items after the `after` cursor, or from the list's start.",
    "after": "Only items after this cursor: an edge's cursor from this connection.",
    "last": "The last n items before the `before` cursor, or up to the list's end.",
    "before": "Only items before this cursor: an edge's cursor from this connection.",
}

PAGE_INFO_DESCRIPTIONS = {
    "has_next_page": (
        "Whether items follow this page: true when `first` left more items out, or "
        "when `before` was given (the edge that cursor came from follows the page)."
    ),
    "has_previous_page": (
        "Whether items precede this page: true when `last` left more items out, or "
        "when `after` was given (the edge that cursor came from precedes the page)."
    ),
    "start_cursor": "The first edge's cursor, as `before` for the page before.",
    "end_cursor": "The last edge's cursor, as `after` for the page after.",
}

# strawberry's PageInfo is shared by every connection; what its flags mean here is
# this module's doing, so its descriptions are set here too.
for _field in get_object_definition(relay.PageInfo, strict=True).fields:
    _field.description = PAGE_INFO_DESCRIPTIONS[_field.python_name]


def _with_both_flags(connection: Any, before: str | None, after: str | None) -> Any:
    if connection is not None:
        page_info = connection.page_info
        page_info.has_previous_page = page_info.has_previous_page or bool(after)
        page_info.has_next_page = page_info.has_next_page or bool(before)
    return connection


class ShopConnectionExtension(StrawberryDjangoConnectionExtension):
    """strawberry-django's connection extension, with the arguments described as
    they behave and both page flags answered (see the module)."""

    def apply(self, field) -> None:
        super().apply(field)
        for argument in field.arguments:
            if argument.python_name in ARGUMENT_DESCRIPTIONS:
                argument.description = ARGUMENT_DESCRIPTIONS[argument.python_name]

    def resolve(self, next_, source, info, *, before=None, after=None, **kwargs):
        connection = super().resolve(
            next_, source, info, before=before, after=after, **kwargs
        )
        if inspect.isawaitable(connection):  # resolved in a thread, in async contexts

            async def flagged():
                return _with_both_flags(await connection, before, after)

            return flagged()
        return _with_both_flags(connection, before, after)

    async def resolve_async(
        self, next_, source, info, *, before=None, after=None, **kwargs
    ):
        connection = await super().resolve_async(
            next_, source, info, before=before, after=after, **kwargs
        )
        return _with_both_flags(connection, before, after)


class ConnectionField(StrawberryDjangoField):
    """A connection field (``strawberry_django.connection(field_cls=...)``) served
    through ``ShopConnectionExtension``."""

    def __init__(self, *args, extensions=(), **kwargs) -> None:
        extensions = [
            ShopConnectionExtension(max_results=extension.max_results)
            if type(extension) is StrawberryDjangoConnectionExtension
            else extension
            for extension in extensions
        ]
        super().__init__(*args, extensions=extensions, **kwargs)
