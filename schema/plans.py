"""Known documents executed as plans: graphql-core's work done once per document.

graphql-core executes a document by interpreting it for every object of every
answer: for each field it finds the definition, builds a resolve info, coerces the
arguments, looks up the middleware-wrapped resolver, calls it, checks whether the
result is awaitable and dispatches on the return type to complete it. A product
listing repeats that some 900 times per request, about half of its CPU.

A plan is that interpretation done once, per operation of a document the server
has seen (``GRAPHQL_PLAN_AFTER`` executions in this process; persisted queries at
their first): the fields of each selection collected (fragments, aliases, and
``@include``/``@skip`` for the variables' values, which are part of the plan's
key), and each field compiled into a closure that knows its type:

- a value the schema reads from memory (a column, an id, a related row or a
  prefetched list: schema.fast_fields) is read directly, without a resolve info;
- a resolver that takes only its source (``price(self, root)``), with no
  arguments, extensions or permissions, is called as a plain function;
- any other field calls its own resolver, through the extensions' middleware, with
  the resolve info and arguments graphql-core would give it (arguments coerced
  once per request): permissions, the optimizer, cache tags and every resolver's
  own logic run as they do today;
- a list of a model's rows below their parent (Product.variants,
  ProductVariant.attributes) whose whole selection is columns, ids, joined
  related rows and such resolvers is read with ``values()`` for every parent of
  the answer at once, through the queryset the optimizer would prefetch it with
  (``RowsPlan``), instead of model instances; the resolver above it is handed the
  selection without it, so the optimizer does not prefetch it too;
- values are completed by closures made for their type (non-null, list, scalar or
  enum serialization, object) instead of graphql-core's dispatch.

The plan is an optimisation, never a second source of truth: whatever it cannot
do exactly sends the request down graphql-core's path, whole. At compile time, a
document with introspection, an interface or union in its answer, or a
subscription or mutation is never planned, nor is a query run on an event loop
(over WebSocket, where resolvers answer with awaitables). At run time, an
exception in a resolver, a null where the schema says non-null, a value a scalar
cannot serialize or a resolver answering asynchronously abandons the answer and
graphql-core executes the operation from the start, so errors (their messages,
paths and the nulls they propagate) are always graphql-core's own.
tests/schema/test_plans.py holds the plan's answers byte-identical to
graphql-core's for every document of the tests, the README, the benchmarks and
the Apollo journey, and for generated ones.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections import OrderedDict, defaultdict
from collections.abc import Callable
from decimal import Decimal
from enum import Enum
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.db.models.manager import BaseManager
from graphql import (
    ExecutionContext,
    FieldNode,
    GraphQLEnumType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLScalarType,
    OperationDefinitionNode,
    OperationType,
    Undefined,
)
from graphql.execution.collect_fields import collect_fields, collect_sub_fields
from graphql.execution.values import get_argument_values
from graphql.language import (
    DirectiveNode,
    NameNode,
    SelectionSetNode,
    VariableNode,
    visit,
)
from graphql.language.visitor import Visitor
from graphql.pyutils import Path
from strawberry.relay.utils import to_base64
from strawberry.types.field import StrawberryField
from strawberry_django.fields.field import StrawberryDjangoField
from strawberry_django.optimizer import OptimizerConfig, _get_prefetch_queryset
from strawberry_django.optimizer import optimizer as current_optimizer

from schema.fast_fields import FIELD, KIND, MISSING, READ
from shop.catalog.cache_tags import (
    record,
    tags_collecting,
    values_tag,
    values_taggable,
)
from shop.core.metrics import graphql_plan_record

# Argument values a resolver cannot change in place.
_IMMUTABLE = (str, int, float, bool, type(None), Enum, Decimal, tuple)


class Abandon(Exception):
    """The plan cannot answer this request exactly: graphql-core will."""


class CannotPlan(Exception):
    """The operation uses something plans do not do: it is never planned."""


# ---------------------------------------------------------------- running


class Run:
    """One request's execution of a plan: the execution context graphql-core
    built (variables, context, middleware), what is computed once per request,
    and the lists waiting to be read as rows."""

    __slots__ = ("context", "resolvers", "arguments", "pending")

    def __init__(self, context: ExecutionContext) -> None:
        self.context = context
        self.resolvers: dict[FieldPlan, Callable[..., Any]] = {}
        self.arguments: dict[FieldPlan, dict[str, Any]] = {}
        # per rows plan: (the parent's key, the list to fill, the list's path)
        self.pending: dict[RowsPlan, list[tuple[Any, list, Path]]] = {}

    def resolve(self, field: FieldPlan, source: Any, path: Path) -> Any:
        """``field``'s value on ``source`` from its resolver, as graphql-core calls
        it (the middleware's wrapper, the resolve info, the coerced arguments)."""
        context = self.context
        resolver = self.resolvers.get(field)
        if resolver is None:
            resolver = field.definition.resolve or context.field_resolver
            if context.middleware_manager:
                resolver = context.middleware_manager.get_field_resolver(resolver)
            self.resolvers[field] = resolver
        arguments = self.arguments.get(field)
        if arguments is None:
            arguments = get_argument_values(
                field.definition, field.nodes[0], context.variable_values
            )
            # kept for the field's next source unless a resolver could change
            # them (lists and input objects are coerced afresh, as graphql-core)
            if all(isinstance(v, _IMMUTABLE) for v in arguments.values()):
                self.arguments[field] = arguments
        info = field.info(context, path, field.resolver_nodes)
        result = resolver(source, info, **arguments)
        if context.is_awaitable(result):
            close = getattr(result, "close", None)
            if close is not None:
                close()
            raise Abandon(f"{field.parent.name}.{field.name} answered asynchronously")
        return result

    def read_pending(self) -> None:
        """Reads every list waiting as rows, one query per list field and
        level (the rows' own lists wait for the next round)."""
        while self.pending:
            pending, self.pending = self.pending, {}
            for rows, waiting in pending.items():
                rows.read(self, waiting)


class FieldPlan:
    """One response key of a selection: its field, how its value is obtained
    and how it is completed."""

    __slots__ = (
        "key",
        "name",
        "nodes",
        "resolver_nodes",
        "definition",
        "parent",
        "read",
        "children",
        "rows",
        "complete",
        "execute",
    )

    def __init__(
        self,
        key: str,
        nodes: list[FieldNode],
        definition: Any,
        parent: GraphQLObjectType,
    ) -> None:
        self.key = key
        self.name = nodes[0].name.value
        self.nodes = nodes
        # what its resolver's info holds: the nodes, or the same selection
        # without the lists read as rows (so the optimizer does not prefetch them)
        self.resolver_nodes = nodes
        self.definition = definition
        self.parent = parent
        self.read = getattr(definition.resolve, READ, None) if definition else None
        # the fields selected below it (an object or a list of objects)
        self.children: list[FieldPlan] | None = None
        self.rows: RowsPlan | None = None
        self.complete: Callable[[Run, Any, Path], Any] | None = None
        self.execute: Callable[[Run, Any, Path], Any] | None = None

    def info(
        self, context: ExecutionContext, path: Path, nodes: list[FieldNode]
    ) -> GraphQLResolveInfo:
        return GraphQLResolveInfo(
            self.name,
            nodes,
            self.definition.type,
            self.parent,
            path,
            context.schema,
            context.fragments,
            context.root_value,
            context.operation,
            context.variable_values,
            context.context_value,
            context.is_awaitable,
        )

    def has_rows(self) -> bool:
        return self.rows is not None or any(
            child.has_rows() for child in self.children or ()
        )

    def without_rows(self) -> FieldNode:
        """This field as one node whose selection leaves out the lists read as
        rows: what its fragments and directives select, spelled out."""
        selection = None
        if self.children is not None:
            selection = SelectionSetNode(
                selections=tuple(
                    child.without_rows()
                    for child in self.children
                    if child.rows is None and child.definition is not None
                )
                or (FieldNode(name=NameNode(value="__typename")),)
            )
        node = self.nodes[0]
        return FieldNode(
            alias=node.alias,
            name=node.name,
            arguments=node.arguments,
            directives=(),
            selection_set=selection,
        )


def _object_runner(fields: list[FieldPlan]) -> Callable[[Run, Any, Path | None], dict]:
    executes = [(field.key, field.execute) for field in fields]

    def run_object(run: Run, source: Any, path: Path | None) -> dict:
        return {key: execute(run, source, path) for key, execute in executes}

    return run_object


# ---------------------------------------------------------------- completion


def _completer(
    output_type: Any,
    field: FieldPlan,
    object_runner: Callable[[GraphQLObjectType], Callable[[Run, Any, Path], dict]],
    *,
    check_type: bool = True,
) -> Callable[[Run, Any, Path], Any]:
    """A closure completing a resolved value of ``output_type`` as graphql-core's
    complete_value does, abandoning where graphql-core would record an error."""
    if isinstance(output_type, GraphQLNonNull):
        inner = _completer(
            output_type.of_type, field, object_runner, check_type=check_type
        )

        def complete_non_null(run: Run, value: Any, path: Path) -> Any:
            completed = inner(run, value, path)
            if completed is None:
                raise Abandon(f"null for the non-null {field.parent.name}.{field.name}")
            return completed

        return complete_non_null

    if isinstance(output_type, GraphQLList):
        item = _completer(
            output_type.of_type, field, object_runner, check_type=check_type
        )

        def complete_list(run: Run, value: Any, path: Path) -> Any:
            if value is None or value is Undefined:
                return None
            if isinstance(value, str | bytes | dict | Exception) or not hasattr(
                value, "__iter__"
            ):
                raise Abandon(f"{field.parent.name}.{field.name} is not a list")
            return [
                item(run, element, Path(path, index, None))
                for index, element in enumerate(value)
            ]

        return complete_list

    if isinstance(output_type, GraphQLScalarType | GraphQLEnumType):
        serialize = output_type.serialize

        def complete_leaf(run: Run, value: Any, path: Path) -> Any:
            if value is None or value is Undefined:
                return None
            if isinstance(value, Exception):
                raise Abandon("an error as a value")
            serialized = serialize(value)
            if serialized is None or serialized is Undefined:
                raise Abandon(f"{output_type.name} cannot serialize the value")
            return serialized

        return complete_leaf

    if isinstance(output_type, GraphQLObjectType):
        run_object = object_runner(output_type)
        is_type_of = output_type.is_type_of if check_type else None

        def complete_object(run: Run, value: Any, path: Path) -> Any:
            if value is None or value is Undefined:
                return None
            if isinstance(value, Exception):
                raise Abandon("an error as a value")
            if is_type_of is not None and not is_type_of(value, None):
                raise Abandon(f"not a {output_type.name}")
            return run_object(run, value, path)

        return complete_object

    raise CannotPlan(f"{output_type} (an interface or a union) is not planned")


def _executor(field: FieldPlan) -> Callable[[Run, Any, Path | None], Any]:
    """The closure answering ``field`` on a source: read or resolve, complete."""
    complete = field.complete
    read = field.read
    key = field.key
    parent_name = field.parent.name
    if field.name == "__typename":

        def typename(run: Run, source: Any, path: Path | None) -> Any:
            return parent_name

        return typename

    if field.rows is not None:
        return field.rows.waiting_executor(field)

    if read is not None and isinstance(
        _named(field.definition.type), GraphQLScalarType | GraphQLEnumType
    ):
        # a scalar read from memory needs no path (only a resolver call does)

        def read_leaf(run: Run, source: Any, path: Path | None) -> Any:
            value = read(source)
            if value is MISSING:
                value = run.resolve(field, source, Path(path, key, parent_name))
            return complete(run, value, None)

        return read_leaf

    if read is not None:

        def read_field(run: Run, source: Any, path: Path | None) -> Any:
            value = read(source)
            field_path = Path(path, key, parent_name)
            if value is MISSING:
                value = run.resolve(field, source, field_path)
            return complete(run, value, field_path)

        return read_field

    direct = _direct_call(field.definition)
    if direct is not None:

        def call_field(run: Run, source: Any, path: Path | None) -> Any:
            field_path = Path(path, key, parent_name)
            value = direct(source)
            if not _as_strawberry_would(value):
                value = run.resolve(field, source, field_path)
            return complete(run, value, field_path)

        return call_field

    def resolve_field(run: Run, source: Any, path: Path | None) -> Any:
        field_path = Path(path, key, parent_name)
        return complete(run, run.resolve(field, source, field_path), field_path)

    return resolve_field


# ---------------------------------------------------------------- rows


class RowView:
    """A row read as values, seen as the model instance a resolver expects:
    ``row.current_price`` is ``row["current_price"]`` (under a join's prefix)."""

    __slots__ = ("_row", "_prefix")

    def __init__(self, row: dict, prefix: str) -> None:
        self._row = row
        self._prefix = prefix

    def __getattr__(self, name: str) -> Any:
        try:
            return self._row[self._prefix + name]
        except KeyError:
            raise AttributeError(name) from None


class RowsPlan:
    """A list of a model's rows below their parent (a reverse foreign key:
    Product.variants, ProductVariant.attributes) read with ``values()`` for every
    parent of the answer at once, through the queryset the optimizer would
    prefetch them with (the type's get_queryset: the same rows, the same order),
    without building model instances.

    It serves a selection of columns, ids, resolvers that read declared
    columns only (``only=`` hints), related rows joined in (a foreign key to a
    type without its own get_queryset) and, below them, further lists of rows.
    Each row records the cache tag its instance would (shop.catalog.cache_tags).
    """

    def __init__(
        self,
        field: FieldPlan,
        descriptor: Any,
        strawberry_field: Any,
        parent_key: str,
    ) -> None:
        self.field = field
        self.strawberry_field = strawberry_field
        relation = descriptor.field  # the foreign key on the rows' model
        self.model = relation.model
        self.link = relation.attname
        self.parent_key = parent_key
        self.columns: list[str] = [self.model._meta.pk.attname, self.link]
        self.tagged: list[tuple[Any, str]] = [(self.model, "")]
        self.run_row: Callable[[Run, dict, Path], dict] | None = None

    def waiting_executor(self, field: FieldPlan):
        key = field.key
        parent_name = field.parent.name
        parent_key = self.parent_key

        if self.parent_key.startswith("row:"):
            column = self.parent_key[4:]

            def wait_for_rows(run: Run, row: dict, path: Path | None) -> list:
                waiting: list = []
                run.pending.setdefault(self, []).append(
                    (row[column], waiting, Path(path, key, parent_name))
                )
                return waiting

            return wait_for_rows

        def wait_for_instance_rows(run: Run, source: Any, path: Path | None) -> list:
            try:
                value = source.__dict__[parent_key]
            except (KeyError, AttributeError):
                raise Abandon(f"{parent_name}.{key}: no {parent_key}") from None
            waiting: list = []
            run.pending.setdefault(self, []).append(
                (value, waiting, Path(path, key, parent_name))
            )
            return waiting

        return wait_for_instance_rows

    def read(self, run: Run, waiting: list[tuple[Any, list, Path]]) -> None:
        extension = current_optimizer.get()
        if extension is None or not extension.enabled.get():
            raise Abandon("no optimizer: the rows would not be the prefetched ones")
        context = run.context
        info = self.field.info(context, waiting[0][2], self.field.nodes)
        config = OptimizerConfig(
            enable_only=extension.enable_only,
            enable_select_related=extension.enable_select_related,
            enable_prefetch_related=extension.enable_prefetch_related,
            enable_annotate=extension.enable_annotate_optimization,
            prefetch_custom_queryset=extension.prefetch_custom_queryset,
            enable_nested_relations_prefetch=(
                extension.enable_nested_relations_prefetch
            ),
        )
        queryset = _get_prefetch_queryset(
            self.model,
            context.schema._strawberry_schema,
            self.strawberry_field,
            self.field.parent,
            self.field.nodes[0],
            config=config,
            info=info,
            related_field_id=self.link,
        )
        keys = {key for key, _waiting, _path in waiting if key is not None}
        groups: dict[Any, list[dict]] = defaultdict(list)
        if keys:
            rows = queryset.filter(**{f"{self.link}__in": keys}).values(*self.columns)
            for row in rows:
                groups[row[self.link]].append(row)
            if tags_collecting():  # the response cache keeps this answer
                record(
                    *(
                        tag
                        for rows_of_one in groups.values()
                        for row in rows_of_one
                        for model, prefix in self.tagged
                        if (tag := values_tag(model, row, prefix)) is not None
                    )
                )
        run_row = self.run_row
        for key, target, path in waiting:
            target.extend(
                run_row(run, row, Path(path, index, None))
                for index, row in enumerate(groups.get(key, ()))
            )


def _direct_call(definition: Any) -> Callable[[Any], Any] | None:
    """For a resolver that takes only its source (``self``/``root``) and has
    nothing around it (no arguments, extensions or permissions, a plain
    strawberry or strawberry-django field, synchronous): a call of the function
    itself. What strawberry would still do to its result (a manager, queryset
    or callable, an awaitable) sends the field back through ``Run.resolve``."""
    field = definition.extensions.get("strawberry-definition") if definition else None
    if type(field) not in (StrawberryField, StrawberryDjangoField):
        return None
    resolver = field.base_resolver
    if (
        resolver is None
        or field.extensions
        or definition.args
        or resolver.arguments
        or resolver.info_parameter is not None
        or resolver.is_async
    ):
        return None
    function = resolver.wrapped_func
    with_self = resolver.self_parameter is not None
    root = resolver.root_parameter.name if resolver.root_parameter else None
    if with_self and root:

        def call(source):
            return function(source, **{root: source})

    elif with_self:

        def call(source):
            return function(source)

    elif root:

        def call(source):
            return function(**{root: source})

    else:
        return None
    return call


def _as_strawberry_would(value: Any) -> bool:
    """Whether strawberry would hand ``value`` on as it is."""
    return not (
        callable(value)
        or isinstance(value, BaseManager | QuerySet)
        or inspect.isawaitable(value)
    )


def _leaf_kind(definition: Any) -> tuple[str, Any] | None:
    return getattr(definition.resolve, KIND, None) if definition else None


def _row_resolver_columns(definition: Any, model: Any) -> list[str] | None:
    """The columns a resolver field reads when it declares them all (``only=``)
    and has nothing else of its own (arguments, extensions, relations)."""
    field = definition.extensions.get("strawberry-definition") if definition else None
    if not isinstance(field, StrawberryDjangoField) or field.base_resolver is None:
        return None
    store = field.store
    if (
        definition.args
        or field.extensions
        or not store.only
        or store.select_related
        or store.prefetch_related
        or store.annotate
    ):
        return None
    columns = []
    for name in store.only:
        try:
            column = model._meta.get_field(name)
        except Exception:
            return None
        if not column.concrete or column.is_relation:
            return None
        columns.append(column.attname)
    return columns


class _NotRows(Exception):
    """This selection cannot be read as rows; its list keeps its instances."""


# ---------------------------------------------------------------- compiling


class _Compiler:
    def __init__(self, context: ExecutionContext) -> None:
        self.schema = context.schema
        self.fragments = context.fragments
        self.variable_values = context.variable_values

    def collect(
        self, object_type: GraphQLObjectType, nodes: list[FieldNode]
    ) -> dict[str, list[FieldNode]]:
        return collect_sub_fields(
            self.schema, self.fragments, self.variable_values, object_type, nodes
        )

    def fields(
        self, parent: GraphQLObjectType, collected: dict[str, list[FieldNode]]
    ) -> list[FieldPlan]:
        plans = []
        for key, nodes in collected.items():
            name = nodes[0].name.value
            if name == "__typename":
                field = FieldPlan(key, nodes, None, parent)
            elif name.startswith("__"):
                raise CannotPlan("introspection is not planned")
            else:
                definition = parent.fields.get(name)
                if definition is None:
                    continue  # graphql-core skips it too (Undefined)
                field = FieldPlan(key, nodes, definition, parent)
                field.rows = self.rows(field)
                if field.rows is None:
                    field.complete = _completer(
                        definition.type, field, self._object_runner_for(field)
                    )
            field.execute = _executor(field)
            plans.append(field)
        for field in plans:
            if field.definition is not None and field.has_rows():
                field.resolver_nodes = [field.without_rows()]
        return plans

    def _object_runner_for(self, field: FieldPlan):
        def object_runner(object_type: GraphQLObjectType):
            field.children = self.fields(
                object_type, self.collect(object_type, field.nodes)
            )
            return _object_runner(field.children)

        return object_runner

    # -- rows

    def rows(self, field: FieldPlan, *, in_rows: bool = False) -> RowsPlan | None:
        """A rows plan for a list field of model instances (or of rows), when its
        whole selection can be read as rows."""
        kind = _leaf_kind(field.definition)
        if kind is None or kind[0] != "list":
            return None
        descriptor = kind[1]
        relation = descriptor.field
        item_type = field.definition.type
        while isinstance(item_type, GraphQLNonNull | GraphQLList):
            item_type = item_type.of_type
        if not isinstance(item_type, GraphQLObjectType):
            return None
        target = relation.target_field.attname
        parent_key = f"row:{target}" if in_rows else target
        plan = RowsPlan(
            field, descriptor, getattr(field.definition.resolve, FIELD), parent_key
        )
        if not values_taggable(plan.model):
            return None
        try:
            runner = self.row_object(plan, item_type, field.nodes, prefix="", depth=0)
        except _NotRows:
            return None
        # [T!]!: every row is an object; the list itself is never null
        plan.run_row = runner
        field.children = []
        return plan

    def row_object(
        self,
        plan: RowsPlan,
        object_type: GraphQLObjectType,
        nodes: list[FieldNode],
        *,
        prefix: str,
        depth: int,
    ) -> Callable[[Run, dict, Path], dict]:
        definition = object_type.extensions.get("strawberry-definition")
        django = getattr(definition.origin, "__strawberry_django_definition__", None)
        model = getattr(django, "model", None)
        if model is None or (depth and hasattr(definition.origin, "get_queryset")):
            raise _NotRows
        executes = []
        for key, field_nodes in self.collect(object_type, nodes).items():
            name = field_nodes[0].name.value
            if name == "__typename":
                type_name = object_type.name
                executes.append((key, lambda run, row, path, t=type_name: t))
                continue
            if name.startswith("__"):
                raise CannotPlan("introspection is not planned")
            field_definition = object_type.fields.get(name)
            if field_definition is None:
                continue
            executes.append(
                (
                    key,
                    self.row_field(
                        plan,
                        FieldPlan(key, field_nodes, field_definition, object_type),
                        model,
                        prefix=prefix,
                        depth=depth,
                    ),
                )
            )

        def run_row(run: Run, row: dict, path: Path) -> dict:
            return {key: execute(run, row, path) for key, execute in executes}

        return run_row

    def row_field(
        self, plan: RowsPlan, field: FieldPlan, model: Any, *, prefix: str, depth: int
    ) -> Callable[[Run, dict, Path | None], Any]:
        kind = _leaf_kind(field.definition)
        key, parent_name = field.key, field.parent.name
        no_objects = _no_objects
        if kind is not None and kind[0] == "column":
            column = prefix + kind[1]
            plan.columns.append(column)
            complete = _completer(field.definition.type, field, no_objects)

            def read_column(run: Run, row: dict, path: Path | None) -> Any:
                return complete(run, row[column], path)

            return read_column
        if kind is not None and kind[0] == "id" and kind[1] is model:
            column = prefix + model._meta.pk.attname
            plan.columns.append(column)
            type_name = field.parent.name

            def read_id(run: Run, row: dict, path: Path | None) -> Any:
                return to_base64(type_name, row[column])

            return read_id
        if kind is not None and kind[0] == "relation":
            relation = kind[1].field
            related_type = field.definition.type
            non_null = isinstance(related_type, GraphQLNonNull)
            if non_null:
                related_type = related_type.of_type
            if not isinstance(related_type, GraphQLObjectType) or depth >= 3:
                raise _NotRows
            related_model = relation.related_model
            if not values_taggable(related_model):
                raise _NotRows
            link = prefix + relation.attname
            plan.columns.append(link)
            joined = f"{prefix}{relation.name}__"
            plan.tagged.append((related_model, joined))
            plan.columns.append(joined + related_model._meta.pk.attname)
            run_joined = self.row_object(
                plan, related_type, field.nodes, prefix=joined, depth=depth + 1
            )

            def read_joined(run: Run, row: dict, path: Path | None) -> Any:
                if row[link] is None:
                    if non_null:
                        raise Abandon(f"null for the non-null {parent_name}.{key}")
                    return None
                return run_joined(run, row, Path(path, key, parent_name))

            return read_joined
        if kind is not None and kind[0] == "list" and depth == 0 and not prefix:
            nested = self.rows(field, in_rows=True)
            if nested is None:
                raise _NotRows
            plan.columns.append(nested.parent_key[4:])
            return nested.waiting_executor(field)
        columns = _row_resolver_columns(field.definition, model)
        if columns is not None and not isinstance(
            _named(field.definition.type), GraphQLObjectType | GraphQLList
        ):
            plan.columns.extend(prefix + column for column in columns)
            complete = _completer(field.definition.type, field, no_objects)
            return self._row_resolver(field, complete, prefix)
        if columns is not None:
            plan.columns.extend(prefix + column for column in columns)
            complete = _completer(
                field.definition.type,
                field,
                self._object_runner_for(field),
            )
            return self._row_resolver(field, complete, prefix)
        raise _NotRows

    @staticmethod
    def _row_resolver(field: FieldPlan, complete, prefix: str):
        key, parent_name = field.key, field.parent.name
        direct = _direct_call(field.definition)
        if direct is not None:

            def call_on_row(run: Run, row: dict, path: Path | None) -> Any:
                field_path = Path(path, key, parent_name)
                source = RowView(row, prefix)
                value = direct(source)
                if not _as_strawberry_would(value):
                    value = run.resolve(field, source, field_path)
                return complete(run, value, field_path)

            return call_on_row

        def resolve_on_row(run: Run, row: dict, path: Path | None) -> Any:
            field_path = Path(path, key, parent_name)
            value = run.resolve(field, RowView(row, prefix), field_path)
            return complete(run, value, field_path)

        return resolve_on_row

    def operation(self, operation: OperationDefinitionNode) -> Plan:
        root_type = self.schema.get_root_type(operation.operation)
        collected = collect_fields(
            self.schema,
            self.fragments,
            self.variable_values,
            root_type,
            operation.selection_set,
        )
        return Plan(_object_runner(self.fields(root_type, collected)))


def _named(output_type: Any) -> Any:
    while isinstance(output_type, GraphQLNonNull):
        output_type = output_type.of_type
    return output_type


def _no_objects(object_type: GraphQLObjectType):
    raise _NotRows


class Plan:
    """An operation compiled for one set of @include/@skip values."""

    __slots__ = ("run_root",)

    def __init__(self, run_root) -> None:
        self.run_root = run_root

    def execute(self, context: ExecutionContext, root_value: Any) -> dict:
        """The operation's data; raises Abandon when graphql-core must answer."""
        run = Run(context)
        try:
            data = self.run_root(run, root_value, None)
            run.read_pending()
        except Abandon:
            raise
        except Exception as error:  # graphql-core reports it, with its path
            raise Abandon(repr(error)) from error
        return data


# ---------------------------------------------------------------- the cache


class _ConditionVariables(Visitor):
    """The variables that @include and @skip read."""

    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def enter_directive(self, node: DirectiveNode, *_args) -> None:
        if node.name.value in ("include", "skip"):
            for argument in node.arguments:
                if isinstance(argument.value, VariableNode):
                    self.names.add(argument.value.name.value)


class _Entry:
    __slots__ = ("operation", "seen", "conditions", "plans")

    def __init__(self, operation: OperationDefinitionNode) -> None:
        self.operation = operation  # held: the cache is keyed by its id
        self.seen = 0
        self.conditions: tuple[str, ...] | None = None
        # per @include/@skip values: a Plan, or None when it cannot be planned
        self.plans: dict[tuple, Plan | None] = {}


class PlanCache:
    """Plans by operation (the document cache hands out the same parsed
    operation for the same text), least recently used first out."""

    def __init__(self) -> None:
        self._entries: OrderedDict[int, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def plan_for(self, context: ExecutionContext, *, at_once: bool) -> Plan | None:
        """The plan for the context's operation, compiled when the operation has
        been seen often enough; None when it is not (yet) planned."""
        operation = context.operation
        if operation.operation is not OperationType.QUERY:
            return None
        key = id(operation)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry.operation is not operation:
                entry = _Entry(operation)
                self._entries[key] = entry
                while len(self._entries) > settings.GRAPHQL_DOCUMENT_CACHE_SIZE:
                    self._entries.popitem(last=False)
            else:
                self._entries.move_to_end(key)
            entry.seen += 1
            if entry.seen < settings.GRAPHQL_PLAN_AFTER and not at_once:
                return None
        if entry.conditions is None:
            finder = _ConditionVariables()
            visit(operation, finder)
            for fragment in context.fragments.values():
                visit(fragment, finder)
            entry.conditions = tuple(sorted(finder.names))
        variables = context.variable_values
        condition_key = tuple(bool(variables.get(name)) for name in entry.conditions)
        try:
            return entry.plans[condition_key]
        except KeyError:
            if len(entry.plans) >= MAX_PLANS_PER_OPERATION:
                return None  # many @include/@skip combinations: graphql-core
        try:
            plan = _Compiler(context).operation(operation)
        except (CannotPlan, RecursionError):
            plan = None
        entry.plans[condition_key] = plan
        return plan


PLANS = PlanCache()
# Plans kept per operation, one per combination of its @include/@skip values.
MAX_PLANS_PER_OPERATION = 8


class PlanExecutionContext(ExecutionContext):
    """graphql-core's execution context, answering a planned operation with its
    plan (see the module), and any other operation as graphql-core does."""

    def execute_operation(self, operation: OperationDefinitionNode, root_value: Any):
        if (
            settings.GRAPHQL_PLANS
            and operation.operation is OperationType.QUERY
            and not _on_event_loop()
        ):
            plan = PLANS.plan_for(self, at_once=_planned_at_once(self.context_value))
            if plan is not None:
                try:
                    data = plan.execute(self, root_value)
                except Abandon:
                    graphql_plan_record(abandoned=True)
                else:
                    graphql_plan_record(abandoned=False)
                    return data
        return super().execute_operation(operation, root_value)


def _on_event_loop() -> bool:
    """Whether this thread runs an event loop (a query over WebSocket): a plan
    calls resolvers synchronously, and there they answer with awaitables."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _planned_at_once(context: Any) -> bool:
    """A persisted query (sent by hash, or allow-listed) is a known document
    from its first execution (schema.views marks its request)."""
    request = getattr(context, "request", None)
    return bool(getattr(request, "persisted_query", False))
