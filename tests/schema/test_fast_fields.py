"""Plain fields read directly (schema.fast_fields) answer exactly what strawberry's
own resolvers answer, fall back to them whenever the value is not in memory, and
never skip a field's permissions or arguments."""

import contextlib
from collections.abc import Iterator

import pytest
import strawberry
from django.db import connection
from django.test.utils import CaptureQueriesContext
from graphql import GraphQLObjectType
from strawberry.permission import BasePermission

from schema import schema
from schema.fast_fields import (
    LEAF,
    SLOW,
    LeafMiddlewareManager,
    _cached_relation,
    _leaf,
    _prefetched_list,
    fast_leaves,
)
from shop.catalog.models import AssignedAttribute, Product, ProductVariant
from tests.factories import CategoryFactory, make_product

LISTING = """
query($first: Int) {
  products(first: $first, ordering: [{price: ASC}]) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { cursor node {
      id name slug description inStock reviewCount averageRating createdAt
      priceRange { min { amount currency } max { amount currency } }
      category { id name slug parent { id slug } }
      variants { id sku name quantityAvailable price { amount currency }
        product { id slug }
        attributes { attribute { id name slug } value { id name slug } } }
    } }
  }
}
"""


def fast_fields() -> list[tuple[object, str]]:
    return [
        (field, f"{graphql_type.name}.{name}")
        for graphql_type in schema._schema.type_map.values()
        if isinstance(graphql_type, GraphQLObjectType)
        for name, field in graphql_type.fields.items()
        if getattr(field.resolve, LEAF, False)
    ]


@contextlib.contextmanager
def strawberry_resolvers() -> Iterator[None]:
    """Every field resolved by its own (strawberry's) resolver for a while."""
    fields = [field for field, _ in fast_fields()]
    fast = [field.resolve for field in fields]
    try:
        for field in fields:
            field.resolve = getattr(field.resolve, SLOW)
        yield
    finally:
        for field, resolve in zip(fields, fast, strict=True):
            field.resolve = resolve


@pytest.fixture
def catalog(db):
    root = CategoryFactory(name="Root", slug="root")
    for n in range(4):
        make_product(
            name=f"Product {n}",
            category=CategoryFactory(name=f"Leaf {n}", slug=f"leaf-{n}", parent=root),
            variants=[
                {"price": 10 + n + i, "color": f"Color {i}", "quantity_available": i}
                for i in range(3)
            ],
        )


def test_the_plain_fields_of_a_listing_are_read_directly():
    names = {name for _, name in fast_fields()}

    assert {
        "Product.id",
        "Product.name",
        "Product.inStock",  # an annotation
        "Product.category",  # a relation loaded with its row
        "ProductVariant.sku",
        "Money.amount",  # a plain strawberry type
        "SelectedAttribute.value",
        "Product.variants",  # a list the optimizer prefetched
    } <= names
    # Their own resolvers compute something, or take arguments and page.
    assert (
        not {
            "Product.priceRange",
            "Product.reviews",
            "ProductVariant.price",
            "Query.products",
        }
        & names
    )


def test_a_listing_answers_the_same_as_with_strawberrys_own_resolvers(gql, catalog):
    fast = gql.ok(LISTING, {"first": 10})
    with CaptureQueriesContext(connection) as fast_queries:
        gql.ok(LISTING, {"first": 10})
    with strawberry_resolvers():
        own = gql.ok(LISTING, {"first": 10})
        with CaptureQueriesContext(connection) as own_queries:
            gql.ok(LISTING, {"first": 10})

    assert fast == own
    assert len(fast["products"]["edges"]) == 4
    assert len(fast_queries) == len(own_queries)


def test_a_column_not_loaded_is_loaded_by_the_fields_own_resolver(db, catalog):
    product = Product.objects.only("pk").order_by("pk").first()
    name = schema._schema.type_map["Product"].fields["name"].resolve

    with CaptureQueriesContext(connection) as queries:
        answer = name(product, None)

    assert answer == Product.objects.order_by("pk").first().name
    assert len(queries) == 1


def test_a_relation_not_loaded_is_loaded_by_the_fields_own_resolver(db, catalog):
    assigned = AssignedAttribute.objects.filter(variant__isnull=False).first()
    asked = []
    own = lambda root, info: asked.append(root) or "own"  # noqa: E731
    value = _leaf(_cached_relation("value"), own, ("relation", None), None)

    loaded = AssignedAttribute.objects.select_related("value").get(pk=assigned.pk)
    with CaptureQueriesContext(connection) as queries:
        assert value(loaded, None).pk == assigned.value_id
    assert len(queries) == 0
    assert asked == []

    not_loaded = AssignedAttribute.objects.get(pk=assigned.pk)
    assert value(not_loaded, None) == "own"
    assert asked == [not_loaded]


def test_an_id_is_the_relay_global_id(gql, catalog):
    variant = ProductVariant.objects.order_by("pk").first()
    node = gql.ok(
        "query($id: ID!) { node(id: $id) { id ... on ProductVariant { sku } } }",
        {"id": _global_id("ProductVariant", variant.pk)},
    )["node"]

    assert node == {"id": _global_id("ProductVariant", variant.pk), "sku": variant.sku}


def _global_id(type_name: str, pk: int) -> str:
    return str(strawberry.relay.GlobalID(type_name, str(pk)))


# ---------------------------------------------------------------- what is never fast


class Deny(BasePermission):
    message = "No."

    def has_permission(self, source, info, **kwargs) -> bool:
        return False


@strawberry.type
class Thing:
    plain: str
    guarded: str = strawberry.field(permission_classes=[Deny])

    @strawberry.field
    def computed(self) -> str:
        return self.plain.upper()

    @strawberry.field
    def with_argument(self, suffix: str) -> str:
        return self.plain + suffix


@strawberry.type
class ThingQuery:
    @strawberry.field
    def thing(self) -> Thing:
        return Thing(plain="a", guarded="secret")


class Counting(strawberry.extensions.SchemaExtension):
    seen: list[str] = []

    def resolve(self, _next, root, info, *args, **kwargs):
        Counting.seen.append(info.field_name)
        return _next(root, info, *args, **kwargs)


class ThingSchema(strawberry.Schema):
    def _get_middleware_manager(self, extensions):
        return LeafMiddlewareManager(
            *(ext for ext in extensions if ext._implements_resolve())
        )


def test_permissions_resolvers_and_arguments_keep_the_full_path():
    things = ThingSchema(query=ThingQuery, extensions=[Counting])
    installed = fast_leaves(things)
    Counting.seen = []

    result = things.execute_sync(
        '{ thing { plain computed withArgument(suffix: "!") guarded } }'
    )

    assert installed == ["Thing.plain"]
    assert result.data is None  # guarded is non-null and refused
    assert [error.message for error in result.errors] == ["No."]
    # The extensions' resolve hooks ran for every field but the plain one.
    assert sorted(Counting.seen) == ["computed", "guarded", "thing", "withArgument"]


def test_a_list_the_optimizer_did_not_prefetch_is_left_to_its_own_resolver(db, catalog):
    asked = []
    own = lambda root, info: asked.append(root) or "own"  # noqa: E731
    variants = _leaf(_prefetched_list("variants"), own, ("list", None), None)
    # Prefetched by plain Django: the type's visibility rules (get_queryset) were
    # not applied to these rows, so the field's own resolver decides.
    prefetched = Product.objects.prefetch_related("variants").order_by("pk").first()
    not_prefetched = Product.objects.order_by("pk").first()

    assert variants(prefetched, None) == "own"
    assert variants(not_prefetched, None) == "own"
    assert asked == [prefetched, not_prefetched]
