"""Optimizer help for lists that are not querysets (a Redis cart's lines)."""

from django.db.models import QuerySet
from graphql import get_named_type
from strawberry.types import Info
from strawberry_django.optimizer import OptimizerStore, optimize
from strawberry_django.utils.gql_compat import get_sub_field_selections


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
