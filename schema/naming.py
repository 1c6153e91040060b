"""Type names as the contract spells them."""

from strawberry.schema.name_converter import NameConverter


class ShopNameConverter(NameConverter):
    """Names cursor connections ``ProductConnection`` / ``ProductEdge``.

    strawberry-django's keyset connection is ``CursorConnection``, which would make
    ``ProductCursorConnection``; the contract (and Relay habit) says
    ``ProductConnection``. Using the generic type itself, not a named subclass,
    keeps strawberry-django's nested-connection prefetching working.
    """

    def from_generic(self, generic_type, types) -> str:
        name = super().from_generic(generic_type, types)
        for generic in ("CursorConnection", "CursorEdge"):
            if generic_type.name == generic:
                return name.removesuffix(generic) + generic.removeprefix("Cursor")
        return name
