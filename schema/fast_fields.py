"""Plain fields resolved without strawberry's per-field machinery.

A product listing resolves some 1,500 fields, most of them a column's value
(``name``, ``sku``, ``amount``) or an id. Through strawberry each one goes through
the optimizer's resolve hook (graphql-core middleware), strawberry's argument
parsing, its Info object, strawberry-django's descriptor inspection and
``getattr``: about 20 us per field, most of a listing's time.

``fast_leaves(schema)`` gives such fields a resolver that reads the value directly,
marked so that ``LeafMiddlewareManager`` does not wrap it in the extensions' resolve
hooks (they have nothing to do for a scalar already in memory: the optimizer only
acts on querysets and managers). A field qualifies only when nothing could differ:

- a column of a Django model whose class attribute is a plain
  ``DeferredAttribute`` (not a file field or any other wrapping descriptor) or an
  annotation (``inStock``), with no resolver of its own, no arguments, no field
  extensions (permissions), a scalar or enum type;
- any attribute of a plain strawberry type (``Money.amount``, an edge's
  ``node``), with no resolver, arguments or extensions;
- a related row loaded with its parent, or a list the optimizer prefetched;
- a Relay ``id`` of a Django node type that keeps strawberry's own id and type
  name resolution.

When the value is not loaded (a deferred column, an annotation the optimizer did
not add, a root that is not a model instance) the field's own resolver answers,
exactly as before. Each fast resolver also carries its ``read`` (the value or
MISSING), its ``kind`` and its strawberry field, for schema.plans.
"""

from collections.abc import Callable
from typing import Any

from django.db import models
from django.db.models.fields.related_descriptors import (
    ForwardManyToOneDescriptor,
    ReverseManyToOneDescriptor,
)
from django.db.models.query_utils import DeferredAttribute
from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLList,
    GraphQLObjectType,
    GraphQLScalarType,
    get_nullable_type,
)
from graphql.execution.middleware import MiddlewareManager
from strawberry import relay
from strawberry.relay.utils import to_base64
from strawberry.types.base import StrawberryObjectDefinition
from strawberry.types.field import StrawberryField
from strawberry_django.fields.field import StrawberryDjangoField
from strawberry_django.optimizer import is_optimized_by_prefetching
from strawberry_django.relay.utils import resolve_model_id

LEAF = "_shop_leaf"
# The field's own resolver, which a fast one falls back to.
SLOW = "_shop_slow"
# The fast resolver's read: the value from memory, or MISSING (schema.plans reads
# values with it and calls the resolver only when it answers MISSING).
READ = "_shop_read"
# What the fast resolver reads: ("column", attname), ("annotation", name),
# ("attribute", name), ("id", model), ("relation", descriptor) or ("list",
# descriptor); and the strawberry field it answers (schema.plans reads both).
KIND = "_shop_kind"
FIELD = "_shop_field"
MISSING = object()


class LeafMiddlewareManager(MiddlewareManager):
    """graphql-core's middleware manager, leaving fast leaf resolvers unwrapped."""

    def get_field_resolver(self, field_resolver):
        try:
            return self._cached_resolvers[field_resolver]
        except KeyError:
            if getattr(field_resolver, LEAF, False):
                self._cached_resolvers[field_resolver] = field_resolver
                return field_resolver
            return super().get_field_resolver(field_resolver)


def _leaf(
    read: Callable[[Any], Any],
    slow: Callable[..., Any],
    kind: tuple[str, Any],
    field: StrawberryField,
) -> Callable[..., Any]:
    def resolve(root, info):
        value = read(root)
        return slow(root, info) if value is MISSING else value

    setattr(resolve, LEAF, True)
    setattr(resolve, SLOW, slow)
    setattr(resolve, READ, read)
    setattr(resolve, KIND, kind)
    setattr(resolve, FIELD, field)
    return resolve


def _column(name: str) -> Callable[[Any], Any]:
    def read(root):
        try:
            return root.__dict__[name]
        except (KeyError, AttributeError):
            return MISSING

    return read


def _attribute(name: str) -> Callable[[Any], Any]:
    def read(root):
        return getattr(root, name, MISSING)

    return read


def _cached_relation(name: str) -> Callable[[Any], Any]:
    def read(root):
        try:
            return root._state.fields_cache[name]
        except (KeyError, AttributeError):
            return MISSING

    return read


def _prefetched_list(name: str) -> Callable[[Any], Any]:
    def read(root):
        try:
            rows = root._prefetched_objects_cache[name]
        except (KeyError, AttributeError):
            return MISSING
        # Rows the optimizer prefetched went through the type's get_queryset
        # already: strawberry-django hands them out as they are.
        if rows._result_cache is None or not is_optimized_by_prefetching(rows):
            return MISSING
        return rows

    return read


def _global_id(type_name: str, model: type[models.Model]) -> Callable[[Any], Any]:
    attname = model._meta.pk.attname

    def read(root):
        if type(root) is not model:
            return MISSING
        try:
            return to_base64(type_name, root.__dict__[attname])
        except KeyError:
            return MISSING

    return read


def _plain_field(field: StrawberryField, graphql_field: GraphQLField) -> bool:
    return (
        field.base_resolver is None
        and not field.extensions
        and not graphql_field.args
        and isinstance(
            get_nullable_type(graphql_field.type), GraphQLScalarType | GraphQLEnumType
        )
    )


def _plain_attribute(field: StrawberryField, graphql_field: GraphQLField) -> bool:
    """An attribute of a plain strawberry type (``Money.amount``, an edge's
    ``node``): no resolver, arguments or extensions, not a Django field."""
    return (
        not isinstance(field, StrawberryDjangoField)
        and field.base_resolver is None
        and not field.extensions
        and not graphql_field.args
    )


def _relation(field: StrawberryField, graphql_field: GraphQLField) -> bool:
    """A relation with nothing of its own: no resolver, arguments or extensions."""
    named = get_nullable_type(graphql_field.type)
    if isinstance(named, GraphQLList):
        named = get_nullable_type(named.of_type)
    return (
        isinstance(field, StrawberryDjangoField)
        and field.base_resolver is None
        and not field.extensions
        and not graphql_field.args
        and isinstance(named, GraphQLObjectType)
    )


def _default_node_id(origin: type) -> bool:
    """Whether ``origin`` resolves its id and type name as strawberry-django
    does: the primary key and the GraphQL type's own name."""
    return (
        getattr(origin, "_id_attr", None) == "pk"
        and getattr(origin.resolve_id, "__func__", None) is resolve_model_id
        and origin.resolve_typename.__func__ is relay.Node.resolve_typename.__func__
    )


def _fast_resolver(
    definition: StrawberryObjectDefinition,
    field: StrawberryField,
    graphql_name: str,
    graphql_field: GraphQLField,
) -> Callable[..., Any] | None:
    slow = graphql_field.resolve
    model = getattr(definition.origin, "__strawberry_django_definition__", None)
    model = getattr(model, "model", None)
    if graphql_name == "id" and field.base_resolver is not None:
        if model is not None and _default_node_id(definition.origin):
            return _leaf(_global_id(definition.name, model), slow, ("id", model), field)
        return None
    if slow is None:
        return None
    if model is not None and _relation(field, graphql_field):
        descriptor = getattr(model, field.django_name or field.python_name, None)
        if type(descriptor) is ForwardManyToOneDescriptor:
            return _leaf(
                _cached_relation(descriptor.field.cache_name),
                slow,
                ("relation", descriptor),
                field,
            )
        if type(descriptor) is ReverseManyToOneDescriptor and not (
            field.is_connection or field.is_paginated
        ):
            return _leaf(
                _prefetched_list(descriptor.field.remote_field.cache_name),
                slow,
                ("list", descriptor),
                field,
            )
    if model is None and _plain_attribute(field, graphql_field):
        return _leaf(
            _attribute(field.python_name),
            slow,
            ("attribute", field.python_name),
            field,
        )
    if not _plain_field(field, graphql_field):
        return None
    if model is None:
        return None
    if not isinstance(field, StrawberryDjangoField):
        return None
    name = field.django_name or field.python_name
    descriptor = getattr(model, name, None)
    if type(descriptor) is DeferredAttribute:
        return _leaf(
            _column(descriptor.field.attname),
            slow,
            ("column", descriptor.field.attname),
            field,
        )
    store = getattr(field, "store", None)
    if descriptor is None and store is not None and store.annotate:
        return _leaf(_column(name), slow, ("annotation", name), field)
    return None


def fast_leaves(schema) -> list[str]:
    """Installs the fast resolvers on ``schema`` (a strawberry Schema); returns
    the ``Type.field`` names that got one."""
    installed = []
    for graphql_type in schema._schema.type_map.values():
        if not isinstance(graphql_type, GraphQLObjectType):
            continue
        definition = graphql_type.extensions.get("strawberry-definition")
        if not isinstance(definition, StrawberryObjectDefinition):
            continue
        by_name = {
            schema.config.name_converter.get_graphql_name(field): field
            for field in definition.fields
        }
        for graphql_name, graphql_field in graphql_type.fields.items():
            field = by_name.get(graphql_name)
            if field is None:
                continue
            resolve = _fast_resolver(definition, field, graphql_name, graphql_field)
            if resolve is not None:
                graphql_field.resolve = resolve
                installed.append(f"{graphql_type.name}.{graphql_name}")
    return installed
