"""Catalog types: categories, products, variants and their attributes."""

import copy
from decimal import Decimal

import strawberry
import strawberry_django
from django.conf import settings
from django.db.models import Exists, OuterRef, Q, QuerySet
from strawberry import UNSET, relay
from strawberry.annotation import StrawberryAnnotation
from strawberry.types import Info
from strawberry.types.arguments import StrawberryArgument
from strawberry_django import Ordering
from strawberry_django.relay import DjangoCursorConnection

from schema.common import Money, PriceRange
from schema.connections import ConnectionField
from schema.context import current_user
from schema.errors import graphql_error
from schema.media.types import ImageFormat, ImageType, checked_size
from schema.optimizing import keeping_columns
from schema.reviews.types import ReviewType, VisibleReviewsField
from shop.catalog import cache_tags as tags_
from shop.catalog import selectors
from shop.catalog.cache_tags import record
from shop.catalog.errors import CatalogError, ErrorCode
from shop.catalog.models import (
    AssignedAttribute,
    Attribute,
    AttributeValue,
    Category,
    Product,
    ProductVariant,
)
from shop.discounts.sales import prices_read

# ---------------------------------------------------------------- filtering


@strawberry.input(description="Match products by one attribute's values.")
class AttributeFilter:
    slug: str = strawberry.field(description='The attribute\'s slug, e.g. "color".')
    values: list[str] = strawberry.field(
        description="Value slugs; a product matches when it has any of them."
    )


def _given(value):
    return None if value is UNSET else value


def _condition(description: str):
    # Handled as a whole by ProductFilter.filter, never as a plain field lookup.
    return strawberry_django.filter_field(
        default=UNSET, description=description, skip_queryset_filter=True
    )


@strawberry_django.filter_type(
    Product,
    name="ProductFilter",
    description=(
        "Product conditions, all of which must hold. Price, attribute and in-stock "
        "conditions must hold for one same variant."
    ),
)
class ProductFilter:
    search: str | None = _condition("Full text over name, description and SKUs.")
    category: str | None = _condition("A category slug; descendants are included.")
    min_price: Decimal | None = _condition(
        "A variant costs at least this much (what the buyer pays: sales included)."
    )
    max_price: Decimal | None = _condition(
        "A variant costs at most this much (what the buyer pays: sales included)."
    )
    attributes: list[AttributeFilter] | None = _condition(
        "OR within one attribute's values, AND across attributes."
    )
    in_stock: bool | None = _condition(
        "true: a variant can be bought; false: every variant is sold out."
    )
    # strawberry-django gives every filter a DISTINCT flag; a product matches at
    # most once here (conditions on variants are subqueries), so it stays private.
    DISTINCT: strawberry.Private[bool] = False

    @strawberry_django.filter_field
    def filter(self, info: Info, queryset: QuerySet, prefix: str) -> tuple[QuerySet, Q]:
        if not prefix:
            search = None if self.search is UNSET else self.search
            queryset = selectors.product_search_ranked(queryset, search=search)
        condition = self.condition()
        tags = self.list_tags()
        record(*tags)
        if tags_.PRODUCTS_PRICE in tags:
            prices_read()  # sales move products in and out at their boundaries
        return queryset, condition

    def list_tags(self) -> set[str]:
        """The lists whose changes can change which products match (cached
        answers depend on them: shop.catalog.cache_tags)."""
        tags = set()
        for level in self._levels():
            if _given(level.search):
                tags.add(tags_.PRODUCTS_SEARCH)
            if _given(level.category) is not None:
                tags.add(tags_.CATEGORIES)
            if (
                _given(level.min_price) is not None
                or _given(level.max_price) is not None
            ):
                tags.add(tags_.PRODUCTS_PRICE)
            if _given(level.attributes):
                tags.add(tags_.PRODUCTS_ATTRIBUTES)
            if _given(level.in_stock) is not None:
                tags.add(tags_.PRODUCTS_STOCK)
        return tags

    def condition(self) -> Q:
        """This filter's conditions, then AND, OR and NOT, as strawberry-django
        combines them: ((own AND and) OR or) AND NOT not.

        The whole tree is checked first: at most PRODUCT_FILTER_MAX_DEPTH levels
        of AND / OR / NOT, and the attribute limits counted over every level.
        """
        try:
            self._check_tree()
            return self._condition()
        except CatalogError as error:
            raise graphql_error(error) from error

    def _levels(self) -> list["ProductFilter"]:
        levels, pending = [], [(self, 1)]
        while pending:
            level, depth = pending.pop()
            if depth > settings.PRODUCT_FILTER_MAX_DEPTH:
                raise CatalogError(
                    ErrorCode.INVALID,
                    f"Nest AND, OR and NOT at most "
                    f"{settings.PRODUCT_FILTER_MAX_DEPTH - 1} levels deep.",
                    field="filters",
                )
            levels.append(level)
            for nested in (level.AND, level.OR, level.NOT):
                if _given(nested):
                    pending.append((nested, depth + 1))
        return levels

    def _check_tree(self) -> None:
        counted = 0
        for level in self._levels():
            conditions = level._attribute_conditions()
            selectors.attribute_conditions_checked(conditions, counted_before=counted)
            counted += len(conditions)

    def _attribute_conditions(self) -> list[selectors.AttributeCondition]:
        return [
            selectors.AttributeCondition(slug=a.slug, values=a.values)
            for a in _given(self.attributes) or ()
        ]

    def _condition(self) -> Q:
        condition = selectors.product_conditions(
            search=_given(self.search),
            category=_given(self.category),
            min_price=_given(self.min_price),
            max_price=_given(self.max_price),
            attributes=self._attribute_conditions(),
            in_stock=_given(self.in_stock),
        )
        if _given(self.AND):
            condition &= self.AND._condition()
        if _given(self.OR):
            condition |= self.OR._condition()
        if _given(self.NOT):
            condition &= ~self.NOT._condition()
        return condition


@strawberry_django.order_type(
    Product,
    name="ProductOrder",
    description=(
        "One sort key: set exactly one field per item; items apply in list order."
    ),
)
class ProductOrder:
    created_at: Ordering | None = strawberry.field(
        default=UNSET, description="When the product was created."
    )
    name: Ordering | None = strawberry.field(
        default=UNSET, description="The product's name."
    )
    price: Ordering | None = strawberry.field(
        default=UNSET,
        description="The lowest price among its variants (what the buyer pays now).",
    )
    rating: Ordering | None = strawberry.field(
        default=UNSET, description="The average review rating."
    )

    @strawberry_django.order_field
    def order(self, info: Info, queryset: QuerySet, prefix: str):
        chosen = [
            (name, getattr(self, name))
            for name in selectors.PRODUCT_SORT_COLUMNS
            if getattr(self, name) not in (UNSET, None)
        ]
        if len(chosen) != 1:
            raise graphql_error(
                CatalogError(
                    ErrorCode.INVALID,
                    "Each ordering item takes exactly one field, e.g. "
                    "[{price: ASC}, {createdAt: DESC}].",
                    field="ordering",
                )
            )
        name, direction = chosen[0]
        record(*ORDER_TAGS[name])
        if name == "price":
            prices_read()
        sort = selectors.product_sort(
            name,
            descending=direction.name.startswith("DESC"),
            nulls_first=direction.name.endswith("NULLS_FIRST"),
        )
        return queryset, [sort]


# The lists a sort key reads (shop.catalog.cache_tags): creation times do not
# change once set, so that order is the list's membership alone.
ORDER_TAGS = {
    "created_at": (),
    "name": (tags_.PRODUCTS_NAME,),
    "price": (tags_.PRODUCTS_PRICE,),
    "rating": (tags_.PRODUCTS_RATING,),
}


class ProductListField(ConnectionField):
    """A product list field whose ``ordering`` argument also accepts null, and
    whose answers depend on the product list's membership (cache tag
    ``products``; filters and sorts add theirs).

    strawberry-django declares it ``[ProductOrder!]! = []``; the contract (and
    Apollo clients passing ``ordering: null``) want ``[ProductOrder!]``.
    """

    def get_queryset(self, queryset: QuerySet, info: Info, **kwargs) -> QuerySet:
        record(tags_.PRODUCTS)
        return super().get_queryset(queryset, info, **kwargs)

    @property
    def arguments(self) -> list[StrawberryArgument]:
        arguments = super().arguments
        for argument in arguments:
            if argument.python_name == "ordering":
                argument.type_annotation = StrawberryAnnotation(
                    list[ProductOrder] | None
                )
                argument.default = None
        return arguments

    @arguments.setter
    def arguments(self, value: list[StrawberryArgument]) -> None:
        ConnectionField.arguments.fset(self, value)


# ---------------------------------------------------------------- types


@strawberry_django.type(
    Attribute,
    name="Attribute",
    description='A property defined by staff: "Color", "Storage", "Size".',
)
class AttributeType(relay.Node):
    name: strawberry.auto
    slug: strawberry.auto
    values: list["AttributeValueType"] = strawberry_django.field(
        description="The values it can take, in display order."
    )


@strawberry_django.type(
    AttributeValue, name="AttributeValue", description='One value: "Red", "256 GB".'
)
class AttributeValueType(relay.Node):
    name: strawberry.auto
    slug: strawberry.auto


@strawberry_django.type(
    AssignedAttribute,
    name="SelectedAttribute",
    description="An attribute and the value a product or variant has for it.",
)
class SelectedAttributeType:
    attribute: AttributeType
    value: AttributeValueType


@strawberry_django.type(
    Category, name="Category", description="A node of the category tree."
)
class CategoryType(relay.Node):
    name: strawberry.auto
    slug: strawberry.auto
    description: strawberry.auto
    parent: "CategoryType | None" = strawberry_django.field(
        description="The parent category; null for a root."
    )
    children: list["CategoryType"] = strawberry_django.field(
        description="The categories directly below this one."
    )
    products: DjangoCursorConnection["ProductType"] = strawberry_django.connection(
        field_cls=ProductListField,
        description=(
            "Products filed directly under this category. For a whole subtree, "
            "use Query.products(filters: {category: <slug>})."
        ),
    )


# The columns products are sorted by; a keyset cursor reads them from every row.
_SORT_COLUMNS = tuple(selectors.PRODUCT_SORT_COLUMNS.values())


def _user_sees(info: Info, queryset: QuerySet) -> QuerySet:
    queryset = selectors.product_list(user=current_user(info), products=queryset)
    return keeping_columns(queryset, _SORT_COLUMNS)


_IN_STOCK = Exists(
    ProductVariant.objects.filter(product=OuterRef("pk"), quantity_available__gt=0)
)


@strawberry_django.type(
    Product,
    name="Product",
    filters=ProductFilter,
    ordering=ProductOrder,
    description="What a shopper browses: the parent of its variants.",
)
class ProductType(relay.Node):
    name: strawberry.auto
    slug: strawberry.auto
    description: strawberry.auto
    category: CategoryType | None
    created_at: strawberry.auto
    updated_at: strawberry.auto
    variants: list["ProductVariantType"] = strawberry_django.field(
        description="The variants, in display order: what is actually bought."
    )
    attributes: list[SelectedAttributeType] = strawberry_django.field(
        field_name="assigned_attributes",
        description="Product-level attribute values, e.g. Brand.",
    )
    in_stock: bool = strawberry_django.field(
        annotate=_IN_STOCK, description="Whether any variant can be bought."
    )
    review_count: int = strawberry_django.field(
        description="How many reviews count in averageRating (hidden ones do not)."
    )
    reviews: DjangoCursorConnection[ReviewType] = strawberry_django.connection(
        field_cls=VisibleReviewsField,
        description="Its reviews, newest first; filter by rating.",
    )
    media: list[ImageType] = strawberry_django.field(
        description="Its images, in the merchant's order."
    )

    @strawberry_django.field(
        prefetch_related=["media"],
        description="The first image (for listings), its url at this size and "
        "format unless url says otherwise; null when it has none.",
    )
    def thumbnail(
        self,
        root: Product,
        size: int | None = None,
        format: ImageFormat | None = None,
    ) -> ImageType | None:
        first = next(iter(root.media.all()), None)
        if first is None:
            return None
        # A copy: the same row may also be answered in media, with no defaults.
        thumbnail = copy.copy(first)
        thumbnail.url_defaults = (checked_size(size), format)
        return thumbnail

    @classmethod
    def get_queryset(cls, queryset: QuerySet, info: Info, **kwargs) -> QuerySet:
        return _user_sees(info, queryset)

    @strawberry_django.field(
        only=["price_min", "price_max"],
        description="The range of what its variants cost now (sales included); "
        "null when it has no variants.",
    )
    def price_range(self, root: Product) -> PriceRange | None:
        prices_read()
        if root.price_min is None or root.price_max is None:
            return None
        return PriceRange(min=Money.of(root.price_min), max=Money.of(root.price_max))

    @strawberry_django.field(
        only=["rating_average"],
        description="The average review rating, 1 to 5; null without reviews.",
    )
    def average_rating(self, root: Product) -> float | None:
        return None if root.rating_average is None else float(root.rating_average)


@strawberry_django.type(
    ProductVariant,
    name="ProductVariant",
    description="One SKU of a product, with its own price and stock.",
)
class ProductVariantType(relay.Node):
    sku: strawberry.auto
    name: strawberry.auto
    quantity_available: int = strawberry_django.field(
        description="Units that can still be bought."
    )
    product: ProductType = strawberry_django.field(description="The parent product.")
    attributes: list[SelectedAttributeType] = strawberry_django.field(
        field_name="assigned_attributes",
        description="What tells variants apart: Color=Red, Storage=256 GB.",
    )
    media: list[ImageType] = strawberry_django.field(
        description="This variant's own images (the red one); empty: show the "
        "product's."
    )

    @classmethod
    def get_queryset(cls, queryset: QuerySet, info: Info, **kwargs) -> QuerySet:
        return selectors.variant_list(user=current_user(info), variants=queryset)

    @strawberry_django.field(
        only=["current_price"],
        description="What the buyer pays for one now (a running sale's price).",
    )
    def price(self, root: ProductVariant) -> Money:
        prices_read()
        return Money.of(root.current_price)

    @strawberry_django.field(
        only=["price", "sale_price"],
        description="The price before an active sale; null when not on sale.",
    )
    def compare_at_price(self, root: ProductVariant) -> Money | None:
        prices_read()
        return None if root.sale_price is None else Money.of(root.price)


ProductConnection = DjangoCursorConnection[ProductType]
