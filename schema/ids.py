"""Global IDs in, database ids out: the one check of an ID's type."""

from strawberry import relay

from shop.core.errors import DomainError, ErrorCode

ID_MAX_DIGITS = 18  # a bigint holds every 18-digit number


def node_pk(
    value: str | relay.GlobalID,
    type_name: str,
    *,
    field: str = "id",
    error: type[DomainError] = DomainError,
) -> int:
    """The database id inside a global ID of ``type_name``.

    Raises ``error`` (INVALID, on ``field``) for a malformed ID or one of another
    type.
    """
    try:
        node = (
            value
            if isinstance(value, relay.GlobalID)
            else relay.GlobalID.from_id(value)
        )
    except ValueError:
        node = None
    if node is None or node.type_name != type_name or not is_database_id(node.node_id):
        raise error(ErrorCode.INVALID, f"Not the ID of a {type_name}.", field=field)
    return int(node.node_id)


def is_database_id(text: str) -> bool:
    """ASCII digits that fit a bigint: "²" and "١" are digits to Python, not to us."""
    return text.isascii() and text.isdigit() and len(text) <= ID_MAX_DIGITS
