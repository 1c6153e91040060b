"""factory_boy factories for the domain models."""

from decimal import Decimal

import factory
from django.utils.text import slugify

from shop.accounts.models import User
from shop.catalog.models import (
    Attribute,
    AttributeValue,
    Category,
    Product,
    ProductVariant,
)
from shop.catalog.services import (
    assigned_attributes_set,
    product_denormalised_refresh,
)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"buyer{n}@example.com")
    password = factory.django.Password("a long passphrase 1")


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Category

    name = factory.Sequence(lambda n: f"Category {n}")
    slug = factory.LazyAttribute(lambda o: slugify(o.name))


class AttributeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Attribute
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Attribute {n}")
    slug = factory.LazyAttribute(lambda o: slugify(o.name))


class AttributeValueFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AttributeValue
        django_get_or_create = ("attribute", "slug")

    attribute = factory.SubFactory(AttributeFactory)
    name = factory.Sequence(lambda n: f"Value {n}")
    slug = factory.LazyAttribute(lambda o: slugify(o.name))


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    name = factory.Sequence(lambda n: f"Product {n}")
    slug = factory.LazyAttribute(lambda o: slugify(o.name))
    description = "A fine thing."
    category = None


class VariantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProductVariant

    product = factory.SubFactory(ProductFactory)
    sku = factory.Sequence(lambda n: f"SKU-{n:05d}")
    name = factory.Sequence(lambda n: f"Variant {n}")
    price = Decimal("10.00")
    quantity_available = 5


def value(attribute_slug: str, value_name: str) -> AttributeValue:
    """The value ``value_name`` of attribute ``attribute_slug``, created if needed."""
    attribute = AttributeFactory(slug=attribute_slug, name=attribute_slug.title())
    return AttributeValueFactory(
        attribute=attribute, slug=slugify(value_name), name=value_name
    )


def make_product(
    *,
    variants: list[dict] | None = None,
    attributes: dict[str, str] | None = None,
    **fields,
) -> Product:
    """A product with variants, e.g. ``variants=[{"price": "5", "color": "Red"}]``.

    Variant keys that are not ProductVariant fields are attribute slugs. The
    denormalised columns are refreshed, as the admin does.
    """
    product = ProductFactory(**fields)
    if attributes:
        assigned_attributes_set(
            product=product,
            values=[value(slug, name) for slug, name in attributes.items()],
        )
    model_fields = {f.name for f in ProductVariant._meta.get_fields()}
    for spec in variants or []:
        own = {k: v for k, v in spec.items() if k in model_fields}
        if "price" in own:
            own["price"] = Decimal(str(own["price"]))
        variant = VariantFactory(product=product, **own)
        assigned_attributes_set(
            variant=variant,
            values=[
                value(slug, name)
                for slug, name in spec.items()
                if slug not in model_fields
            ],
        )
    product_denormalised_refresh(product_ids=[product.pk])
    product.refresh_from_db()
    return product
