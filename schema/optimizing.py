"""Optimizer help: lists that are not querysets (a Redis cart's lines), and
keyset-paged querysets whose sort columns must survive the optimizer."""

from django.db.models import QuerySet
from graphql import get_named_type
from strawberry.types import Info
from strawberry_django.optimizer import (
    DjangoOptimizerExtension,
    OptimizerStore,
    optimize,
)
from strawberry_django.optimizer import optimizer as current_optimizer
from strawberry_django.utils.gql_compat import get_sub_field_selections


def optimized(queryset: QuerySet, info: Info) -> QuerySet:
    """``queryset`` optimized for what ``info``'s field selects, as the schema's
    optimizer does over HTTP: related objects whose types have a ``get_queryset``
    are prefetched through it (a variant of an unpublished product is None).

    For a resolver running where no execution set the optimizer: a subscription's
    events are executed after strawberry's ``on_execute`` has ended.
    """
    extension = current_optimizer.get() or DjangoOptimizerExtension()
    return extension.optimize(queryset, info=info)


def optimize_for_subfield(
    queryset: QuerySet, info: Info, subfield: str, *, only: list[str] | None = None
) -> QuerySet:
    """Optimize ``queryset`` for what the query selects under ``<items>.<subfield>``.

    For a resolver returning plain objects (e.g. cart lines) that each hold one
    model instance (``line.variant``): strawberry-django's optimizer sees only the
    current field, so this hands it the ``subfield`` selections instead, fragments
    and aliases included. ``only`` adds columns the resolver itself needs.
    """
    raw = info._raw_info
    parent = get_named_type(raw.return_type)
    nodes = [
        node
        for group in get_sub_field_selections(raw, parent).values()
        for node in group
        if node.name.value == subfield
    ]
    store = OptimizerStore.with_hints(only=only) if only else None
    if not nodes:
        return queryset.only(*only) if only else queryset
    sub_info = raw._replace(
        field_name=subfield,
        field_nodes=nodes,
        return_type=parent.fields[subfield].type,
        parent_type=parent,
        path=raw.path.add_key(0).add_key(subfield, parent.name),
    )
    return optimize(queryset, sub_info, store=store)


_KEEPING: dict[tuple[type, tuple[str, ...]], type] = {}


def keeping_columns(queryset: QuerySet, columns: tuple[str, ...]) -> QuerySet:
    """``queryset``, whose ``only()`` never drops ``columns``.

    strawberry-django 0.91 pages a nested connection (Category.products,
    Product.reviews) first and narrows its columns with ``only()`` afterwards, so
    a keyset cursor would load its sort values with one query per row.
    """
    base = type(queryset)
    key = (base, columns)
    if key not in _KEEPING:

        def only(self, *fields):
            if fields == (None,):
                return base.only(self, *fields)
            return base.only(self, *fields, *columns)

        _KEEPING[key] = type(f"Keeping{base.__name__}", (base,), {"only": only})
    queryset.__class__ = _KEEPING[key]
    return queryset
