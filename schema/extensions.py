"""Every top-level error carries ``extensions.code``; unexpected ones are masked."""

import contextlib
import functools
import re

from django.conf import settings
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLList,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    VariableNode,
    get_named_type,
    get_nullable_type,
    get_operation_ast,
)
from graphql import ExecutionResult as GraphQLExecutionResult
from graphql.error import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    MaskErrors,
    MaxAliasesLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.relay.types import GlobalIDValueError

from shop.core.errors import ErrorCode

PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
INTERNAL = "INTERNAL_SERVER_ERROR"
QUERY_TOO_COMPLEX = "QUERY_TOO_COMPLEX"


def error_code(error: GraphQLError) -> str:
    """The code a client branches on, for an error raised anywhere."""
    if error.extensions and "code" in error.extensions:
        return error.extensions["code"]
    original = error.original_error
    if original is None:
        if error.message.startswith("Syntax Error"):
            return PARSE_FAILED
        return VALIDATION_FAILED
    if isinstance(original, GraphQLError):
        return error_code(original)
    # Raised by argument checks: a malformed global ID or cursor, first > 100...
    if isinstance(original, ValueError):
        return ErrorCode.INVALID.value
    return INTERNAL


# ValueErrors whose text the shop or strawberry wrote for clients: page sizes.
_CLIENT_MESSAGES = re.compile(r"Argument '(first|last)' ")


def client_message(error: GraphQLError) -> str:
    """What a client may read of an INVALID error raised as a ValueError.

    A ValueError's text is Python's or a library's unless it is one of the known
    argument checks ("Argument 'first' ..."): a codec error on a lone surrogate,
    ``int()`` on a non-ASCII digit, base64 padding... Those answer a fixed message
    instead (the original stays in the server log).
    """
    original = error.original_error
    if isinstance(original, GlobalIDValueError):
        return "Invalid ID."
    if isinstance(original, ValueError) and not _CLIENT_MESSAGES.match(str(original)):
        return "Invalid value."
    return error.message


class ErrorCodes(MaskErrors):
    """Adds ``extensions.code`` to every error that lacks one.

    Errors the shop did not expect (a bug, a database outage) become
    INTERNAL_SERVER_ERROR with a generic message, unless DEBUG is on: their text
    could leak internals. They are still logged with the traceback.
    """

    def __init__(self) -> None:
        super().__init__(error_message="Internal server error.")

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        processed = []
        for error in errors:
            code = error_code(error)
            message = error.message
            if code == INTERNAL and not settings.DEBUG:
                error = self.anonymise_error(error)
                message = error.message
            elif code == ErrorCode.INVALID and not isinstance(
                error.original_error, GraphQLError
            ):
                message = client_message(error)
            processed.append(
                GraphQLError(
                    message,
                    nodes=error.nodes,
                    source=error.source,
                    positions=error.positions,
                    path=error.path,
                    original_error=error.original_error,
                    extensions={**(error.extensions or {}), "code": code},
                )
            )
        return processed


# ---------------------------------------------------------------- query cost


class QueryCost(SchemaExtension):
    """Refuses, before it runs, an operation whose estimated cost is above
    GRAPHQL_MAX_COST (extensions.code QUERY_TOO_COMPLEX).

    The cost counts the objects an operation may return: each object field costs 1
    per instance, a paginated field (``first`` / ``last``, from the document or its
    variables; GRAPHQL_MAX_PAGE_SIZE when absent) multiplies what is below it by the
    page size, and a plain list by GRAPHQL_COST_LIST_SIZE (an estimate: a
    product's variants, an order's lines). Scalars are free. Fragments and aliases
    count where they are spread; a field asked twice under two aliases costs twice.
    """

    def on_execute(self):
        context = self.execution_context
        if context.graphql_document is not None and not context.result:
            cost = operation_cost(
                context.schema._schema,
                context.graphql_document,
                context.operation_name,
                context.variables or {},
            )
            most = settings.GRAPHQL_MAX_COST
            if cost > most:
                context.result = GraphQLExecutionResult(
                    data=None,
                    errors=[
                        GraphQLError(
                            f"This operation could return about {cost:,} objects, "
                            f"more than the {most:,} allowed: ask for smaller pages "
                            "or fewer fields and aliases.",
                            extensions={
                                "code": QUERY_TOO_COMPLEX,
                                "cost": cost,
                                "maxCost": most,
                            },
                        )
                    ],
                )
        yield


def operation_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: dict,
) -> int:
    """The estimated cost of the operation to run (see QueryCost); 0 when there is
    none to run (execution reports that itself)."""
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return 0
    root = schema.get_root_type(operation.operation)
    if root is None:
        return 0
    fragments = {
        definition.name.value: definition
        for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }
    return _Cost(schema, fragments, variables).of(operation.selection_set, root, ())


class _Cost:
    def __init__(self, schema, fragments, variables) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables

    def of(self, selection_set, parent, spread: tuple[str, ...]) -> int:
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += self._field(selection, parent, spread)
            elif isinstance(selection, InlineFragmentNode):
                kind = parent
                if selection.type_condition is not None:
                    kind = self.schema.get_type(selection.type_condition.name.value)
                total += self.of(selection.selection_set, kind or parent, spread)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is None or name in spread:  # validation reports these
                    continue
                kind = self.schema.get_type(fragment.type_condition.name.value)
                total += self.of(fragment.selection_set, kind, (*spread, name))
        return total

    def _field(self, node: FieldNode, parent, spread) -> int:
        if node.selection_set is None:
            return 0  # a scalar or an enum
        fields = getattr(parent, "fields", None) or {}
        definition = fields.get(node.name.value)
        if definition is None:  # __typename, introspection, or an unknown field
            return 1
        named = get_named_type(definition.type)
        inner = 1 + self.of(node.selection_set, named, spread)
        return self._multiplier(node, definition, parent) * inner

    def _multiplier(self, node: FieldNode, definition, parent) -> int:
        if "first" in definition.args or "last" in definition.args:
            sizes = [self._argument(node, name) for name in ("first", "last")]
            given = [size for size in sizes if size is not None]
            return min(given) if given else settings.GRAPHQL_MAX_PAGE_SIZE
        if isinstance(get_nullable_type(definition.type), GraphQLList):
            # A connection's edges and nodes are its page, counted on the field.
            if getattr(parent, "name", "").endswith("Connection"):
                return 1
            return settings.GRAPHQL_COST_LIST_SIZE
        return 1

    def _argument(self, node: FieldNode, name: str) -> int | None:
        for argument in node.arguments or ():
            if argument.name.value != name:
                continue
            value = argument.value
            if isinstance(value, VariableNode):
                value = self.variables.get(value.name.value)
            elif isinstance(value, IntValueNode):
                value = int(value.value)
            else:
                value = None
            if isinstance(value, int) and not isinstance(value, bool):
                return max(value, 0)
        return None


@functools.cache
def _limit_rules(max_depth: int, max_aliases: int) -> tuple[type, ...]:
    return (
        *QueryDepthLimiter(max_depth=max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=max_aliases).validation_rules,
    )


class DocumentLimits(AddValidationRules):
    """GRAPHQL_MAX_DEPTH and GRAPHQL_MAX_ALIASES as validation rules made once per
    limit, not per request: strawberry's limiters make a new rule class for every
    request, which would make every ValidationCache key new."""

    def __init__(self) -> None:
        super().__init__(
            list(_limit_rules(settings.GRAPHQL_MAX_DEPTH, settings.GRAPHQL_MAX_ALIASES))
        )


class DocumentParseCache(ParserCache):
    """strawberry's ParserCache, except for a document that does not parse: it is
    left to strawberry's own parse, which answers the error as every other one
    (with its code); ParserCache would let it escape the error handling."""

    def on_parse(self):
        context = self.execution_context
        with contextlib.suppress(GraphQLError):
            context.graphql_document = self.cached_parse_document(
                context.query, **context.parse_options
            )
        yield
