"""Sales and vouchers for staff: usage counts, and single-use codes generated in
bulk (downloaded as CSV)."""

import csv
import secrets

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from shop.discounts.models import Sale, Voucher, VoucherUse
from shop.discounts.sales import sales_apply

# Letters and digits that cannot be mistaken for one another (no 0/O, 1/I/L).
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
GENERATE_MAX = 10_000


@admin.register(Sale)
class SaleAdmin(admin.ModelAdmin):
    """A sale's prices reach the catalog as soon as it is saved or deleted (after
    the commit, in the request: staff see the result at once), and at its start
    and end (a task scheduled for those moments)."""

    list_display = (
        "name",
        "kind",
        "value",
        "starts_at",
        "ends_at",
        "is_active",
        "running",
    )
    list_filter = ("is_active", "kind")
    search_fields = ("name",)
    autocomplete_fields = ("products", "variants")
    filter_horizontal = ("categories",)
    fields = (
        "name",
        ("kind", "value"),
        ("starts_at", "ends_at"),
        "is_active",
        "categories",
        "products",
        "variants",
    )

    @admin.display(boolean=True, description="running now")
    def running(self, sale: Sale) -> bool:
        return sale.is_running(timezone.now())

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        _apply_on_commit()

    def delete_model(self, request, obj) -> None:
        super().delete_model(request, obj)
        _apply_on_commit()

    def delete_queryset(self, request, queryset) -> None:
        super().delete_queryset(request, queryset)
        _apply_on_commit()


def _apply_on_commit() -> None:
    # robust: the sale is saved whatever happens here; if applying fails (it is
    # logged), the periodic check applies it within SALES_CHECK_SECONDS.
    transaction.on_commit(sales_apply, robust=True)


class VoucherUseInline(admin.TabularInline):
    model = VoucherUse
    extra = 0
    can_delete = False
    fields = ("order", "email", "user", "created_at")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class GenerateForm(forms.Form):
    count = forms.IntegerField(min_value=1, max_value=GENERATE_MAX, initial=1000)
    prefix = forms.CharField(
        max_length=20,
        required=False,
        help_text="Put before each code, e.g. SPRING-.",
    )


@admin.register(Voucher)
class VoucherAdmin(admin.ModelAdmin):
    """Uses: orders holding one now (a canceled unpaid order gives its use back;
    a paid one keeps it, also when refunded). "Generate single-use codes" copies
    a voucher into many one-use codes and downloads them as CSV."""

    list_display = (
        "code",
        "name",
        "kind",
        "value",
        "uses",
        "per_customer_limit",
        "starts_at",
        "ends_at",
        "is_active",
    )
    list_filter = ("is_active", "kind", "applies_to_sale_items")
    search_fields = ("code", "name")
    autocomplete_fields = ("products",)
    filter_horizontal = ("categories",)
    readonly_fields = ("used", "generate_link")
    inlines = [VoucherUseInline]
    actions = ["download_csv"]
    fields = (
        ("code", "name"),
        ("kind", "value"),
        "applies_to_sale_items",
        ("minimum_subtotal", "minimum_quantity"),
        ("usage_limit", "per_customer_limit", "used"),
        ("starts_at", "ends_at"),
        "is_active",
        "categories",
        "products",
        "generate_link",
    )

    @admin.display(description="uses", ordering="used")
    def uses(self, voucher: Voucher) -> str:
        limit = "∞" if voucher.usage_limit is None else voucher.usage_limit
        return f"{voucher.used} / {limit}"

    @admin.display(description="bulk codes")
    def generate_link(self, voucher: Voucher) -> str:
        if voucher.pk is None:
            return "Save the voucher first."
        url = reverse("admin:discounts_voucher_generate", args=[voucher.pk])
        return format_html(
            '<a href="{}">Generate single-use codes like this one</a>', url
        )

    def get_urls(self):
        return [
            path(
                "<int:voucher_id>/generate/",
                self.admin_site.admin_view(self.generate_view),
                name="discounts_voucher_generate",
            ),
            *super().get_urls(),
        ]

    def generate_view(self, request, voucher_id: int):
        """Copy the voucher into ``count`` codes of one use each (its other
        conditions kept), and answer them as a CSV download."""
        template = get_object_or_404(Voucher, pk=voucher_id)
        if not self.has_add_permission(request):
            messages.error(request, "You may not add vouchers.")
            return redirect("admin:discounts_voucher_change", voucher_id)
        form = GenerateForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            codes = vouchers_generate(
                template,
                count=form.cleaned_data["count"],
                prefix=form.cleaned_data["prefix"],
            )
            return _csv_response(
                Voucher.objects.filter(code__in=codes).order_by("code"),
                f"{template.code.lower()}-codes.csv",
            )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "voucher": template,
            "form": form,
            "title": f"Generate single-use codes like {template.code}",
        }
        return render(request, "admin/discounts/voucher_generate.html", context)

    @admin.action(description="Download the selected vouchers as CSV")
    def download_csv(self, request, queryset):
        return _csv_response(queryset.order_by("code"), "vouchers.csv")


def _csv_response(vouchers, filename: str) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv.writer(response)
    writer.writerow(
        ["code", "kind", "value", "usage_limit", "used", "starts_at", "ends_at"]
    )
    for voucher in vouchers:
        writer.writerow(
            [
                voucher.code,
                voucher.kind,
                "" if voucher.value is None else voucher.value,
                "" if voucher.usage_limit is None else voucher.usage_limit,
                voucher.used,
                voucher.starts_at.isoformat() if voucher.starts_at else "",
                voucher.ends_at.isoformat() if voucher.ends_at else "",
            ]
        )
    return response


@transaction.atomic
def vouchers_generate(template: Voucher, *, count: int, prefix: str = "") -> list[str]:
    """``count`` new vouchers like ``template`` (its kind, value, conditions,
    window, products and categories), each with a random code (10 characters
    that cannot be misread, about 49 bits: guessing one is hopeless within the
    throttle) and a usage limit of one. Returns their codes."""
    if not 1 <= count <= GENERATE_MAX:
        raise ValueError(f"Generate 1 to {GENERATE_MAX} codes at once.")
    prefix = prefix.strip().upper()
    taken = set()
    while len(taken) < count:
        wanted = count - len(taken)
        fresh = {
            prefix + "".join(secrets.choice(CODE_ALPHABET) for _ in range(10))
            for _ in range(wanted)
        } - taken
        taken |= fresh - set(
            Voucher.objects.filter(code__in=fresh).values_list("code", flat=True)
        )
    products = list(template.products.all())
    categories = list(template.categories.all())
    created = Voucher.objects.bulk_create(
        Voucher(
            code=code,
            name=template.name or f"Copy of {template.code}",
            kind=template.kind,
            value=template.value,
            applies_to_sale_items=template.applies_to_sale_items,
            minimum_subtotal=template.minimum_subtotal,
            minimum_quantity=template.minimum_quantity,
            usage_limit=1,
            per_customer_limit=template.per_customer_limit,
            starts_at=template.starts_at,
            ends_at=template.ends_at,
            is_active=template.is_active,
        )
        for code in sorted(taken)
    )
    through_products = Voucher.products.through
    through_categories = Voucher.categories.through
    through_products.objects.bulk_create(
        through_products(voucher_id=voucher.pk, product_id=product.pk)
        for voucher in created
        for product in products
    )
    through_categories.objects.bulk_create(
        through_categories(voucher_id=voucher.pk, category_id=category.pk)
        for voucher in created
        for category in categories
    )
    return sorted(taken)
