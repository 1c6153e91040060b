"""What a catalog answer depends on beyond the rows it shows: the lists it reads
(shop.catalog.cache_tags records the rows themselves). The response cache keeps
an answer with these tags and drops it when a write changes one."""

import inspect

from strawberry.extensions.field_extension import FieldExtension

from shop.catalog.cache_tags import record


class ListTags(FieldExtension):
    """The field's answer depends on these lists (their membership and order)."""

    def __init__(self, *tags: str) -> None:
        self.tags = tags

    def resolve(self, next_, source, info, **kwargs):
        record(*self.tags)
        return next_(source, info, **kwargs)

    async def resolve_async(self, next_, source, info, **kwargs):
        record(*self.tags)
        result = next_(source, info, **kwargs)
        return await result if inspect.isawaitable(result) else result


class TagWhenMissing(FieldExtension):
    """A lookup that found nothing depends on the list it looked in: a row that
    appears there later (created, published, renamed) must change the answer.
    One that found something depends on that row, which records its own tag."""

    def __init__(self, tag: str) -> None:
        self.tag = tag

    def resolve(self, next_, source, info, **kwargs):
        result = next_(source, info, **kwargs)
        if inspect.isawaitable(result):
            return self._awaited(result)
        if result is None:
            record(self.tag)
        return result

    async def _awaited(self, result):
        result = await result
        if result is None:
            record(self.tag)
        return result

    async def resolve_async(self, next_, source, info, **kwargs):
        result = next_(source, info, **kwargs)
        if inspect.isawaitable(result):
            result = await result
        if result is None:
            record(self.tag)
        return result
