from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, QuerySet
from django.urls import reverse
from django.utils.html import format_html

from shop.catalog.errors import CatalogError
from shop.catalog.media import image_prepared, media_store, media_url
from shop.catalog.models import (
    Attribute,
    AttributeValue,
    Category,
    Product,
    ProductMedia,
    ProductVariant,
    StockAdjustment,
    StockReason,
)
from shop.catalog.services import (
    assigned_attributes_set,
    product_denormalised_refresh,
)
from shop.catalog.stock import (
    ADJUSTMENT_MAX,
    NOTE_MAX,
    adjustment_checked,
    stock_adjust,
)

LOW_STOCK = 10


class AttributeValuesField(forms.ModelMultipleChoiceField):
    """Every attribute value, shown as "Color: Red"; any new one is usable at once."""

    def __init__(self, **kwargs) -> None:
        super().__init__(
            queryset=AttributeValue.objects.select_related("attribute").order_by(
                "attribute__sort_order", "attribute__name", "sort_order", "name"
            ),
            required=False,
            help_text="At most one value per attribute.",
            **kwargs,
        )


class WithAttributeValuesForm(forms.ModelForm):
    """A product or variant form with its attribute values as one multi-select."""

    attribute_values = AttributeValuesField()

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            self.fields["attribute_values"].initial = [
                assigned.value_id
                for assigned in self.instance.assigned_attributes.all()
            ]

    def clean_attribute_values(self):
        values = self.cleaned_data["attribute_values"]
        attribute_ids = [value.attribute_id for value in values]
        if len(attribute_ids) != len(set(attribute_ids)):
            raise ValidationError("Choose at most one value for each attribute.")
        return values

    def save_attribute_values(self) -> None:
        """Write the chosen values; the instance must be saved first."""
        owner = "variant" if isinstance(self.instance, ProductVariant) else "product"
        try:
            assigned_attributes_set(
                values=self.cleaned_data["attribute_values"], **{owner: self.instance}
            )
        except CatalogError as error:  # clean_attribute_values already checked
            raise ValidationError(error.message) from error


class ProductForm(WithAttributeValuesForm):
    class Meta:
        model = Product
        fields = [
            "name",
            "slug",
            "category",
            "description",
            "is_published",
            "tax_class",
        ]


# The form fields of an adjustment, and the service's names for them.
ADJUSTMENT_FIELDS = {
    "delta": "stock_delta",
    "reason": "stock_reason",
    "note": "stock_note",
}


class VariantForm(WithAttributeValuesForm):
    """A variant's details; its stock changes only by an adjustment ("+10
    received", "-2 damaged") added to the stock as it is when the form is saved,
    never by writing back the number shown when the page was opened."""

    stock_delta = forms.IntegerField(
        required=False,
        label="Adjust stock by",
        help_text="Units to add (10) or remove (-2), applied to the stock at save.",
        min_value=-ADJUSTMENT_MAX,
        max_value=ADJUSTMENT_MAX,
    )
    stock_reason = forms.ChoiceField(
        required=False,
        label="Reason",
        choices=[("", "---------"), *StockReason.choices],
        help_text="Required with an adjustment (a new variant's stock: Received).",
    )
    stock_note = forms.CharField(
        required=False, label="Note", max_length=NOTE_MAX, help_text="Why, in words."
    )

    class Meta:
        model = ProductVariant
        fields = ["sku", "name", "price", "weight_grams", "sort_order"]

    def clean(self):
        cleaned = super().clean()
        delta = cleaned.get("stock_delta")
        if not delta:
            return cleaned
        reason = cleaned.get("stock_reason")
        if not reason and self.instance.pk is None:
            reason = cleaned["stock_reason"] = StockReason.RECEIVED
        try:
            adjustment_checked(delta, reason, cleaned.get("stock_note"))
        except CatalogError as error:
            for problem in error.errors:
                self.add_error(ADJUSTMENT_FIELDS[problem.field], problem.message)
            return cleaned
        if delta < 0 and (available := self._stock_now()) + delta < 0:
            self.add_error(
                "stock_delta", f"Only {available} in stock: cannot remove {-delta}."
            )
        return cleaned

    def _stock_now(self) -> int:
        """The stock now, locked for the rest of the admin's transaction (the save
        happens in it), so the check above still holds when the change is made."""
        if self.instance.pk is None:
            return 0
        variants = ProductVariant.objects.filter(pk=self.instance.pk)
        if transaction.get_connection().in_atomic_block:
            variants = variants.select_for_update()
        return variants.values_list("quantity_available", flat=True).first() or 0

    def save_stock_adjustment(self, staff) -> None:
        """Apply the adjustment, if any; the variant must be saved first."""
        delta = self.cleaned_data.get("stock_delta")
        if delta:
            stock_adjust(
                variant_id=self.instance.pk,
                delta=delta,
                reason=self.cleaned_data["stock_reason"],
                note=self.cleaned_data.get("stock_note", ""),
                staff=staff,
            )


class StockFilter(admin.SimpleListFilter):
    title = "stock"
    parameter_name = "stock"

    def lookups(self, request, model_admin):
        return [("out", "Sold out"), ("low", f"Under {LOW_STOCK} left")]

    def queryset(self, request, queryset: QuerySet):
        if self.value() == "out":
            return queryset.filter(quantity_available=0)
        if self.value() == "low":
            return queryset.filter(
                quantity_available__gt=0, quantity_available__lt=LOW_STOCK
            )
        return queryset


class VariantInline(admin.TabularInline):
    model = ProductVariant
    form = VariantForm
    extra = 1
    show_change_link = True
    fields = (
        "sku",
        "name",
        "price",
        "quantity_available",
        "stock_delta",
        "stock_reason",
        "stock_note",
        "sort_order",
        "attribute_values",
    )
    readonly_fields = ("quantity_available",)

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("assigned_attributes")


class ProductMediaForm(forms.ModelForm):
    """An image: a new one is uploaded through the same checks as the API
    (shop.catalog.media: content, caps, metadata stripped); an existing one's alt
    text, order and variants are edited."""

    upload = forms.FileField(
        required=False,
        label="Image file",
        help_text="JPEG, PNG, WEBP or AVIF; its metadata is stripped.",
    )

    class Meta:
        model = ProductMedia
        fields = ("upload", "alt", "sort_order", "variants")

    def clean(self):
        cleaned = super().clean()
        upload = cleaned.get("upload")
        self.prepared = None
        if self.instance.pk is None and upload is None and self.has_changed():
            raise ValidationError({"upload": "Choose an image file."})
        if upload is not None:
            if self.instance.pk is not None:
                raise ValidationError(
                    {"upload": "Add a new image instead (URLs of this one stay)."}
                )
            try:
                self.prepared = image_prepared(upload)
            except CatalogError as error:
                raise ValidationError({"upload": error.message}) from error
        return cleaned

    def save(self, commit=True):
        media = super().save(commit=False)
        if self.prepared is not None:
            media_store(self.prepared)
            for name, value in self.prepared.fields.items():
                setattr(media, name, value)
        if commit:
            media.save()
            self.save_m2m()
        return media


class ProductMediaInline(admin.TabularInline):
    model = ProductMedia
    form = ProductMediaForm
    extra = 1
    fields = ("preview", "upload", "alt", "sort_order", "variants")
    readonly_fields = ("preview",)

    @admin.display(description="image")
    def preview(self, media: ProductMedia) -> str:
        if media.pk is None:
            return "-"
        return format_html(
            '<img src="{}" alt="" style="max-width:128px;max-height:128px">'
            "<br>{} x {} {}",
            media_url(media, 128, "WEBP"),
            media.width,
            media.height,
            media.format,
        )

    def get_formset(self, request, obj=None, **kwargs):
        self._product = obj
        return super().get_formset(request, obj, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "variants":
            product = getattr(self, "_product", None)
            kwargs["queryset"] = (
                ProductVariant.objects.filter(product=product)
                if product is not None
                else ProductVariant.objects.none()
            )
        return super().formfield_for_manytomany(db_field, request, **kwargs)


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    """Products with their variants and images inline: SKU, price, stock,
    attribute values; images with previews, alt text, order and variants."""

    form = ProductForm
    inlines = [VariantInline, ProductMediaInline]
    list_display = (
        "name",
        "category",
        "is_published",
        "variant_count",
        "price_min",
        "price_max",
        "created_at",
    )
    list_filter = ("is_published", "category", "created_at")
    list_select_related = ("category",)
    search_fields = ("name", "slug", "description", "variants__sku")
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = ("price_min", "price_max", "rating_average", "review_count")
    date_hierarchy = "created_at"
    actions = ("publish", "unpublish")

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(variant_total=Count("variants"))
            .prefetch_related("assigned_attributes")
        )

    @admin.display(description="variants", ordering="variant_total")
    def variant_count(self, product: Product) -> int:
        return product.variant_total

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        form.save_attribute_values()
        for formset in formsets:
            for inline_form in formset.forms:
                if (
                    isinstance(inline_form, VariantForm)
                    and inline_form.instance.pk is not None
                    and inline_form.has_changed()
                    and not formset._should_delete_form(inline_form)
                ):
                    inline_form.save_attribute_values()
                    inline_form.save_stock_adjustment(request.user)
        product_denormalised_refresh(product_ids=[form.instance.pk])

    @admin.action(description="Publish the selected products")
    def publish(self, request, queryset: QuerySet[Product]) -> None:
        queryset.update(is_published=True)

    @admin.action(description="Unpublish the selected products")
    def unpublish(self, request, queryset: QuerySet[Product]) -> None:
        queryset.update(is_published=False)


@admin.register(ProductVariant)
class ProductVariantAdmin(admin.ModelAdmin):
    """Every variant, for stock work: find by SKU, edit price and stock in the list."""

    form = VariantForm
    list_display = ("sku", "name", "product", "price", "quantity_available")
    # Stock is not editable in the list: it changes by adjustment, on the variant.
    list_editable = ("price",)
    list_filter = (StockFilter, "product__category")
    list_select_related = ("product",)
    search_fields = ("sku", "name", "product__name")
    autocomplete_fields = ("product",)

    fieldsets = (
        (None, {"fields": ["product", *VariantForm.Meta.fields, "attribute_values"]}),
        (
            "Stock",
            {
                "fields": [
                    "quantity_available",
                    "stock_delta",
                    "stock_reason",
                    "stock_note",
                    "stock_history",
                ]
            },
        ),
    )
    readonly_fields = ("quantity_available", "stock_history")

    @admin.display(description="history")
    def stock_history(self, variant: ProductVariant) -> str:
        if variant.pk is None:
            return "-"
        url = reverse("admin:catalog_stockadjustment_changelist")
        return format_html(
            '<a href="{}?variant__id__exact={}">Stock adjustments</a>', url, variant.pk
        )

    def save_model(self, request, obj, form, change) -> None:
        # A variant moved to another product leaves the old one's price range and
        # search words too.
        products = {obj.product_id, obj.loaded_product_id} - {None}
        super().save_model(request, obj, form, change)
        product_denormalised_refresh(product_ids=products)

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        if isinstance(form, VariantForm):  # not the list's price column
            form.save_attribute_values()
            form.save_stock_adjustment(request.user)

    def delete_model(self, request, obj) -> None:
        super().delete_model(request, obj)
        product_denormalised_refresh(product_ids=[obj.product_id])

    def delete_queryset(self, request, queryset) -> None:
        product_ids = list(queryset.values_list("product_id", flat=True))
        super().delete_queryset(request, queryset)
        product_denormalised_refresh(product_ids=product_ids)


@admin.register(StockAdjustment)
class StockAdjustmentAdmin(admin.ModelAdmin):
    """Who changed which stock, by how much and why: a record, never edited.
    Adjustments are made on the variant page."""

    list_display = (
        "created_at",
        "sku",
        "delta",
        "quantity_after",
        "reason",
        "note",
        "staff_email",
    )
    list_filter = ("reason", "created_at")
    search_fields = ("sku", "note", "staff_email")
    date_hierarchy = "created_at"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class AttributeValueInline(admin.TabularInline):
    model = AttributeValue
    extra = 3
    prepopulated_fields = {"slug": ("name",)}


@admin.register(Attribute)
class AttributeAdmin(admin.ModelAdmin):
    """Attributes (Color, Storage, Size) and their values."""

    inlines = [AttributeValueInline]
    list_display = ("name", "slug", "sort_order")
    search_fields = ("name", "slug", "values__name")
    prepopulated_fields = {"slug": ("name",)}


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "parent")
    list_filter = (("parent", admin.RelatedOnlyFieldListFilter),)
    list_select_related = ("parent",)
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
