from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q


class Category(models.Model):
    """A node of the category tree: Phones > Smartphones."""

    parent = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="children",
        help_text="The parent category; empty for a root.",
    )
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "categories"
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(parent=models.F("id")),
                name="catalog_category_not_own_parent",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        super().clean()
        ancestor = self.parent
        while ancestor is not None:
            if self.pk is not None and ancestor.pk == self.pk:
                raise ValidationError(
                    {"parent": "A category cannot be its own ancestor."}
                )
            ancestor = ancestor.parent


class Attribute(models.Model):
    """A property defined by staff, such as Color, Storage or Size."""

    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=100, unique=True)
    sort_order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["sort_order", "name", "id"]

    def __str__(self) -> str:
        return self.name


class AttributeValue(models.Model):
    """One value an attribute can take: Red, 256 GB, M."""

    attribute = models.ForeignKey(
        Attribute, on_delete=models.CASCADE, related_name="values"
    )
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=100)
    sort_order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["attribute_id", "sort_order", "name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["attribute", "slug"], name="catalog_value_slug_per_attribute"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.attribute.name}: {self.name}"


class Product(models.Model):
    """What a shopper browses; the parent of its variants."""

    category = models.ForeignKey(
        Category,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="products",
    )
    name = models.CharField(max_length=250)
    slug = models.SlugField(max_length=250, unique=True)
    description = models.TextField(blank=True)
    is_published = models.BooleanField(
        default=True, help_text="Only published products are shown to shoppers."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # Denormalised from the variants by services.product_denormalised_refresh, so
    # that sorting by price and full-text search over SKUs use an index.
    price_min = models.DecimalField(
        max_digits=12, decimal_places=2, null=True, blank=True, editable=False
    )
    price_max = models.DecimalField(
        max_digits=12, decimal_places=2, null=True, blank=True, editable=False
    )
    search_vector = SearchVectorField(null=True, blank=True, editable=False)
    # Kept by the reviews service once reviews exist.
    rating_average = models.DecimalField(
        max_digits=3, decimal_places=2, null=True, blank=True, editable=False
    )
    review_count = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["created_at", "id"], name="catalog_product_created"),
            models.Index(fields=["name", "id"], name="catalog_product_name"),
            models.Index(fields=["price_min", "id"], name="catalog_product_price"),
            models.Index(
                fields=["rating_average", "id"], name="catalog_product_rating"
            ),
            models.Index(
                fields=["is_published", "category"], name="catalog_product_published"
            ),
            GinIndex(fields=["search_vector"], name="catalog_product_search"),
        ]

    def __str__(self) -> str:
        return self.name


class ProductVariant(models.Model):
    """What is bought: one SKU of a product, with its own price and stock."""

    product = models.ForeignKey(
        Product, on_delete=models.CASCADE, related_name="variants"
    )
    sku = models.CharField("SKU", max_length=64, unique=True)
    name = models.CharField(max_length=250, blank=True)
    price = models.DecimalField(max_digits=12, decimal_places=2)
    quantity_available = models.IntegerField(
        default=0, help_text="Units that can still be sold."
    )
    sort_order = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["sort_order", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity_available__gte=0),
                name="catalog_variant_stock_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(price__gte=0), name="catalog_variant_price_not_negative"
            ),
        ]
        indexes = [
            models.Index(
                fields=["product", "quantity_available"], name="catalog_variant_stock"
            ),
            models.Index(fields=["product", "price"], name="catalog_variant_price"),
        ]

    def __str__(self) -> str:
        return f"{self.sku} ({self.name})" if self.name else self.sku


class AssignedAttribute(models.Model):
    """An attribute value given to a product (Brand) or to a variant (Color=Red).

    Exactly one of product and variant is set, and each owner has at most one value
    per attribute. ``attribute`` is copied from ``value`` so the database can enforce
    that rule with a unique constraint.
    """

    product = models.ForeignKey(
        Product,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="assigned_attributes",
    )
    variant = models.ForeignKey(
        ProductVariant,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="assigned_attributes",
    )
    attribute = models.ForeignKey(
        Attribute, on_delete=models.CASCADE, related_name="+", editable=False
    )
    value = models.ForeignKey(
        AttributeValue, on_delete=models.CASCADE, related_name="assignments"
    )

    class Meta:
        ordering = ["attribute__sort_order", "attribute_id", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(product__isnull=False, variant__isnull=True)
                    | Q(product__isnull=True, variant__isnull=False)
                ),
                name="catalog_assigned_one_owner",
            ),
            models.UniqueConstraint(
                fields=["product", "attribute"],
                condition=Q(product__isnull=False),
                name="catalog_assigned_one_per_product",
            ),
            models.UniqueConstraint(
                fields=["variant", "attribute"],
                condition=Q(variant__isnull=False),
                name="catalog_assigned_one_per_variant",
            ),
        ]
        indexes = [
            models.Index(fields=["attribute", "value"], name="catalog_assigned_value"),
        ]

    def __str__(self) -> str:
        return str(self.value)

    def save(self, *args, **kwargs) -> None:
        self.attribute_id = self.value.attribute_id
        super().save(*args, **kwargs)
