"""Catalog reads."""

import strawberry
import strawberry_django
from strawberry import relay
from strawberry.types import Info

from schema.cache_tags import ListTags, TagWhenMissing
from schema.catalog.types import (
    AttributeType,
    CategoryType,
    ProductConnection,
    ProductListField,
    ProductType,
    ProductVariantType,
)
from schema.context import current_user
from schema.errors import graphql_error
from schema.ids import node_pk
from shop.catalog import selectors
from shop.catalog.cache_tags import ATTRIBUTES, CATEGORIES, PRODUCTS
from shop.catalog.errors import CatalogError, ErrorCode
from shop.catalog.models import Category, Product


@strawberry.type
class CatalogQuery:
    products: ProductConnection = strawberry_django.connection(
        field_cls=ProductListField,
        description="Published products: filter, sort and page through them.",
    )

    @strawberry_django.field(
        description="One product, by ID or by slug.",
        extensions=[TagWhenMissing(PRODUCTS)],
    )
    def product(
        self,
        info: Info,
        id: relay.GlobalID | None = None,
        slug: str | None = None,
    ) -> ProductType | None:
        if (id is None) == (slug is None):
            raise graphql_error(
                CatalogError(
                    ErrorCode.INVALID, "Give exactly one of id and slug.", field="id"
                )
            )
        if id is None:
            return Product.objects.filter(slug=slug)
        try:
            return Product.objects.filter(pk=node_pk(id, "Product", error=CatalogError))
        except CatalogError as error:
            raise graphql_error(error) from error

    @strawberry_django.field(
        description="One variant, by its SKU.",
        extensions=[TagWhenMissing(PRODUCTS)],
    )
    def variant(self, info: Info, sku: str) -> ProductVariantType | None:
        return selectors.variant_list(user=current_user(info)).filter(sku=sku)

    @strawberry_django.field(
        description="The root categories; children nest below.",
        extensions=[ListTags(CATEGORIES)],
    )
    def categories(self) -> list[CategoryType]:
        return selectors.category_roots()

    @strawberry_django.field(
        description="One category, by slug.",
        extensions=[TagWhenMissing(CATEGORIES)],
    )
    def category(self, slug: str) -> CategoryType | None:
        return Category.objects.filter(slug=slug)

    @strawberry_django.field(
        description="Every attribute, for filter facets.",
        extensions=[ListTags(ATTRIBUTES)],
    )
    def attributes(self) -> list[AttributeType]:
        return selectors.attribute_list()

    node: relay.Node | None = strawberry_django.node(
        description="Any object by its global ID."
    )
