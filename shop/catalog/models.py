from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.core.exceptions import ValidationError
from django.db import connection, models, transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce

# Serialises changes to the category tree (pg_advisory_xact_lock key), so that two
# concurrent moves cannot close a cycle that neither saw.
CATEGORY_TREE_LOCK = 0x5C47_7EE0


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

    def save(self, *args, **kwargs) -> None:
        """Refuses (ValidationError) a parent that would put the category under
        itself; checked under a lock on the tree, so concurrent moves cannot."""
        with transaction.atomic():
            if self.parent_id is not None and self.pk is not None:
                if connection.vendor == "postgresql":
                    with connection.cursor() as cursor:
                        cursor.execute(
                            "SELECT pg_advisory_xact_lock(%s)", [CATEGORY_TREE_LOCK]
                        )
                self._check_no_cycle()
            super().save(*args, **kwargs)

    def clean(self) -> None:
        super().clean()
        self._check_no_cycle()

    def _check_no_cycle(self) -> None:
        if self.pk is not None and self.pk in self.ancestor_ids(self.parent_id):
            raise ValidationError({"parent": "A category cannot be its own ancestor."})

    @staticmethod
    def ancestor_ids(category_id: int | None) -> list[int]:
        """``category_id`` and the ids above it, nearest first (one query). Stops
        at a repeated id, so a tree already damaged by a cycle cannot loop."""
        if category_id is None:
            return []
        parents = dict(Category.objects.values_list("id", "parent_id"))
        found: list[int] = []
        current = category_id
        while current is not None and current not in found:
            found.append(current)
            current = parents.get(current)
        return found


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
            # The target of AssignedAttribute's (value, attribute) foreign key,
            # which makes the database refuse a value under another attribute.
            models.UniqueConstraint(
                fields=["id", "attribute"], name="catalog_value_id_attribute"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.attribute.name}: {self.name}"


# Product columns written only by shop.reviews.services.
RATING_COLUMNS = frozenset({"review_count", "rating_total", "rating_average"})


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
    tax_class = models.ForeignKey(
        "taxes.TaxClass",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="products",
        help_text="Empty: the standard rate.",
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
    # The count, the sum and the average (two places) of the ratings of its visible
    # reviews, moved only by shop.reviews.services in the review's transaction.
    rating_average = models.DecimalField(
        max_digits=3, decimal_places=2, null=True, blank=True, editable=False
    )
    review_count = models.PositiveIntegerField(default=0, editable=False)
    rating_total = models.PositiveIntegerField(default=0, editable=False)

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
        constraints = [
            # Without reviews: no total and no average; with n: a total of n..5n.
            models.CheckConstraint(
                condition=Q(review_count=0, rating_total=0, rating_average__isnull=True)
                | Q(
                    review_count__gt=0,
                    rating_total__gte=F("review_count"),
                    rating_total__lte=F("review_count") * 5,
                    rating_average__gte=1,
                    rating_average__lte=5,
                ),
                name="catalog_product_rating_consistent",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        """Save everything but the rating aggregates once the product exists.

        They move only by database arithmetic in shop.reviews.services: writing
        back numbers read earlier (an admin form loaded before a review was
        written) would lose that review.
        """
        if not self._state.adding:
            update_fields = kwargs.get("update_fields")
            if update_fields is None:
                kwargs["update_fields"] = [
                    field.name
                    for field in self._meta.concrete_fields
                    if not field.primary_key and field.name not in RATING_COLUMNS
                ]
            elif RATING_COLUMNS & set(update_fields):
                raise ValueError(
                    "Rating aggregates move with shop.reviews.services, never by "
                    "saving the product."
                )
        super().save(*args, **kwargs)


class ProductVariant(models.Model):
    """What is bought: one SKU of a product, with its own price and stock.

    On PostgreSQL its table also has ``attribute_value_ids`` (not a Django field):
    the ids of its own and its product's attribute values, GIN-indexed for facet
    filters and kept right by database triggers (migration 0004), whatever writes.
    """

    product = models.ForeignKey(
        Product, on_delete=models.CASCADE, related_name="variants"
    )
    sku = models.CharField("SKU", max_length=64, unique=True)
    name = models.CharField(max_length=250, blank=True)
    price = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        help_text="The regular price; a running sale may take something off.",
    )
    # The price under the best running sale (None: not on sale), written only by
    # shop.discounts.sales at each sale boundary and after price changes.
    sale_price = models.DecimalField(
        max_digits=12, decimal_places=2, null=True, blank=True, editable=False
    )
    # What the buyer pays now: the database keeps it equal to the sale price or
    # the regular one, whatever writes; filters, sorting and the products' price
    # ranges read it.
    current_price = models.GeneratedField(
        expression=Coalesce("sale_price", "price"),
        output_field=models.DecimalField(max_digits=12, decimal_places=2),
        db_persist=True,
    )
    quantity_available = models.IntegerField(
        default=0, help_text="Units that can still be sold."
    )
    sort_order = models.PositiveSmallIntegerField(default=0)
    weight_grams = models.PositiveIntegerField(
        null=True, blank=True, help_text="For shipping methods with a weight limit."
    )
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
            models.CheckConstraint(
                condition=Q(sale_price__gte=0) | Q(sale_price__isnull=True),
                name="catalog_variant_sale_price_not_negative",
            ),
        ]
        indexes = [
            models.Index(
                fields=["product", "quantity_available"], name="catalog_variant_stock"
            ),
            models.Index(fields=["product", "price"], name="catalog_variant_price"),
            models.Index(
                fields=["product", "current_price"], name="catalog_variant_current"
            ),
            models.Index(
                fields=["id"],
                condition=Q(sale_price__isnull=False),
                name="catalog_variant_on_sale",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sku} ({self.name})" if self.name else self.sku

    def save(self, *args, **kwargs) -> None:
        """Save everything but the stock once the variant exists.

        ``quantity_available`` is written only by ``shop.catalog.stock`` (database
        arithmetic under the row lock): writing back a number read earlier would
        undo every sale made since. Changing it here is a programming error.
        ``sale_price`` is not written either: shop.discounts.sales owns it (the
        services that change prices refresh it, product_denormalised_refresh).
        """
        if not self._state.adding:
            loaded = getattr(self, "_loaded_stock", None)
            update_fields = kwargs.get("update_fields")
            if (loaded is not None and self.quantity_available != loaded) or (
                update_fields is not None and "quantity_available" in update_fields
            ):
                raise ValueError(
                    "Change stock with shop.catalog.stock (stock_adjust / "
                    "stock_change), never by saving quantity_available."
                )
            if update_fields is None:
                kwargs["update_fields"] = [
                    field.name
                    for field in self._meta.concrete_fields
                    if not field.primary_key
                    and not field.generated
                    and field.name not in ("quantity_available", "sale_price")
                ]
        super().save(*args, **kwargs)
        self._remember_loaded()

    @classmethod
    def from_db(cls, db, field_names, values):
        variant = super().from_db(db, field_names, values)
        variant._remember_loaded()
        return variant

    def refresh_from_db(self, *args, **kwargs) -> None:
        super().refresh_from_db(*args, **kwargs)
        self._remember_loaded()

    def _remember_loaded(self) -> None:
        self._loaded_stock = self.__dict__.get("quantity_available")
        self._loaded_product_id = self.__dict__.get("product_id")

    @property
    def loaded_product_id(self) -> int | None:
        """The product this variant belonged to when it was read (before a move)."""
        return getattr(self, "_loaded_product_id", self.product_id)


class StockReason(models.TextChoices):
    RECEIVED = "RECEIVED", "Received (delivery, restock)"
    RETURNED = "RETURNED", "Returned by a customer"
    DAMAGED = "DAMAGED", "Damaged"
    LOST = "LOST", "Lost or stolen"
    COUNTED = "COUNTED", "Stock count correction"
    OTHER = "OTHER", "Other (say why in the note)"


class StockAdjustment(models.Model):
    """A change of stock made by staff: who, how much, why, and what it left.

    Written by ``shop.catalog.stock.stock_adjust`` in the transaction that changes
    the stock; never edited. Sales, cancellations and expiries are recorded by their
    orders.
    """

    variant = models.ForeignKey(
        ProductVariant,
        on_delete=models.SET_NULL,
        null=True,
        related_name="stock_adjustments",
    )
    sku = models.CharField(
        "SKU", max_length=64, help_text="Copied: kept if the variant is deleted."
    )
    delta = models.IntegerField(help_text="Units added (positive) or removed.")
    quantity_after = models.IntegerField(help_text="Stock right after the change.")
    reason = models.CharField(max_length=20, choices=StockReason.choices)
    note = models.CharField(max_length=500, blank=True)
    staff = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    staff_email = models.EmailField(
        max_length=254, blank=True, help_text="Copied: kept if the user is deleted."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(delta=0), name="catalog_adjustment_not_zero"
            ),
            models.CheckConstraint(
                condition=Q(quantity_after__gte=0),
                name="catalog_adjustment_after_not_negative",
            ),
        ]
        indexes = [
            models.Index(
                fields=["variant", "-created_at"], name="catalog_adjustment_variant"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.delta:+d} {self.sku}"


class AssignedAttribute(models.Model):
    """An attribute value given to a product (Brand) or to a variant (Color=Red).

    Exactly one of product and variant is set, and each owner has at most one value
    per attribute. ``attribute`` is copied from ``value`` so the database can enforce
    that rule with a unique constraint; on PostgreSQL a foreign key on
    (value, attribute) makes sure the copy is the value's own attribute (migration
    catalog 0002).
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


class CacheInvalidation(models.Model):
    """A cache tag a committed write changed, waiting to reach Redis.

    Written by the catalog's triggers (migration 0005), in the writing transaction;
    read and deleted by shop.catalog.cache_tags.flush once Redis has the tag's new
    version. Empty but for the moment between a commit and its flush (or while
    Redis is down)."""

    id = models.BigAutoField(primary_key=True)
    tag = models.CharField(max_length=100)

    class Meta:
        verbose_name = "pending cache invalidation"

    def __str__(self) -> str:
        return self.tag


def _media_path(instance, filename: str) -> str:
    # Content-addressed: shop.catalog.media names the file by its digest.
    return filename


class ProductMedia(models.Model):
    """One image of a product, in the merchant's order, optionally showing some of
    its variants (the red one). The stored file is the upright original without
    any metadata, named by the hash of its bytes (shop.catalog.media): a new
    upload is a new name, so every URL can be cached forever."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="media")
    image = models.FileField(upload_to=_media_path, max_length=200, editable=False)
    digest = models.CharField(max_length=64, editable=False)
    format = models.CharField(max_length=10, editable=False)  # JPEG, PNG, WEBP, AVIF
    width = models.PositiveIntegerField(editable=False)
    height = models.PositiveIntegerField(editable=False)
    alt = models.CharField(
        max_length=250,
        blank=True,
        help_text="What the image shows, for screen readers.",
    )
    sort_order = models.PositiveSmallIntegerField(default=0)
    variants = models.ManyToManyField(
        ProductVariant,
        blank=True,
        related_name="media",
        help_text="The variants this image shows (the red one); empty: the product.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["sort_order", "id"]
        verbose_name = "image"
        indexes = [
            models.Index(
                fields=["product", "sort_order", "id"], name="catalog_media_order"
            )
        ]

    def __str__(self) -> str:
        return self.alt or f"Image {self.pk}"
