"""Decimal and DateTime as the shop describes them: strings on the wire.

strawberry's own definitions serialize and parse them; only the descriptions are
the shop's, so a client developer (and a code generator's reader) sees that both
arrive as JSON strings and must be mapped to ``string``, not to a number or a Date.
"""

import datetime
import decimal

import strawberry
from strawberry.schema.types.base_scalars import DateTimeDefinition, DecimalDefinition


def _described(definition, description: str):
    return strawberry.scalar(
        name=definition.name,
        description=description,
        serialize=definition.serialize,
        parse_value=definition.parse_value,
        parse_literal=definition.parse_literal,
    )


SCALAR_MAP = {
    decimal.Decimal: _described(
        DecimalDefinition,
        'A decimal number as a JSON string, e.g. "19.99": exact, never a float. '
        "Send it as a string too.",
    ),
    datetime.datetime: _described(
        DateTimeDefinition,
        "A point in time as an ISO 8601 string with its UTC offset, e.g. "
        '"2026-11-27T10:15:00+00:00" (fractional seconds when present).',
    ),
}
