from django.contrib import admin

from shop.taxes.models import TaxClass, TaxRate


class TaxRateInline(admin.TabularInline):
    model = TaxRate
    extra = 1


@admin.register(TaxClass)
class TaxClassAdmin(admin.ModelAdmin):
    """Tax classes with their rate in each country (a country without a rate for
    a class taxes it at 0%). Products without a class are in the standard one,
    and shipping is taxed at the destination's standard rate."""

    list_display = ("name", "code")
    inlines = [TaxRateInline]


@admin.register(TaxRate)
class TaxRateAdmin(admin.ModelAdmin):
    list_display = ("country", "tax_class", "rate")
    list_filter = ("tax_class", "country")
    list_select_related = ("tax_class",)
