from django.contrib import admin

from shop.shipping.models import ShippingMethod, ShippingZone


class ShippingMethodInline(admin.StackedInline):
    model = ShippingMethod
    extra = 0
    fields = (
        ("name", "price", "is_active"),
        ("free_above", "minimum_subtotal", "maximum_subtotal"),
        ("maximum_weight_grams", "minimum_delivery_days", "maximum_delivery_days"),
    )


@admin.register(ShippingZone)
class ShippingZoneAdmin(admin.ModelAdmin):
    """Zones (sets of countries) with their methods. Checkout requires a method
    whenever one ships to the address's country; a country no zone holds is
    shipped without a charge."""

    list_display = ("name", "country_list", "method_count")
    inlines = [ShippingMethodInline]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("methods")

    @admin.display(description="countries")
    def country_list(self, zone: ShippingZone) -> str:
        return ", ".join(country.code for country in zone.countries)

    @admin.display(description="methods")
    def method_count(self, zone: ShippingZone) -> int:
        return len(zone.methods.all())


@admin.register(ShippingMethod)
class ShippingMethodAdmin(admin.ModelAdmin):
    list_display = ("name", "zone", "price", "free_above", "is_active")
    list_filter = ("zone", "is_active")
    list_select_related = ("zone",)
