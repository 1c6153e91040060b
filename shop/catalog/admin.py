from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import Count, QuerySet

from shop.catalog.errors import CatalogError
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
        fields = ["name", "slug", "category", "description", "is_published"]


class VariantForm(WithAttributeValuesForm):
    class Meta:
        model = ProductVariant
        fields = ["sku", "name", "price", "quantity_available", "sort_order"]


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

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("assigned_attributes")


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    """Products with their variants inline: SKU, price, stock, attribute values."""

    form = ProductForm
    inlines = [VariantInline]
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
                    isinstance(inline_form, WithAttributeValuesForm)
                    and inline_form.instance.pk is not None
                    and inline_form.has_changed()
                    and not formset._should_delete_form(inline_form)
                ):
                    inline_form.save_attribute_values()
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
    list_editable = ("price", "quantity_available")
    list_filter = (StockFilter, "product__category")
    list_select_related = ("product",)
    search_fields = ("sku", "name", "product__name")
    autocomplete_fields = ("product",)

    fields = ["product", *VariantForm.Meta.fields, "attribute_values"]

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        product_denormalised_refresh(product_ids=[obj.product_id])

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        if "attribute_values" in form.cleaned_data:
            form.save_attribute_values()

    def delete_model(self, request, obj) -> None:
        super().delete_model(request, obj)
        product_denormalised_refresh(product_ids=[obj.product_id])

    def delete_queryset(self, request, queryset) -> None:
        product_ids = list(queryset.values_list("product_id", flat=True))
        super().delete_queryset(request, queryset)
        product_denormalised_refresh(product_ids=product_ids)


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
