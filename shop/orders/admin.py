from django.contrib import admin, messages
from django.db.models import Exists, OuterRef

from shop.orders.errors import OrderError
from shop.orders.models import CancelReason, Order, OrderLine, OrderStatus
from shop.orders.services import order_transition
from shop.payments.models import Payment


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 0
    can_delete = False
    fields = (
        "sku",
        "product_name",
        "variant_name",
        "quantity",
        "unit_price",
        "discount",
        "tax_rate",
        "tax_amount",
    )
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class PaymentInline(admin.TabularInline):
    model = Payment
    extra = 0
    can_delete = False
    show_change_link = True
    fields = (
        "created_at",
        "kind",
        "status",
        "amount",
        "currency",
        "amount_received",
        "amount_refunded",
        "amount_refund_pending",
        "settles_order",
        "needs_attention",
    )
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


def _transition_action(to_status: str, label: str):
    def action(modeladmin, request, queryset) -> None:
        moved, refused = 0, []
        for order in queryset.order_by("pk"):
            try:
                order_transition(
                    order_id=order.pk,
                    to_status=to_status,
                    # Staff cancel on purpose (the buyer asked, fraud, no stock):
                    # final, like a buyer's own cancellation.
                    cancel_reason=(
                        CancelReason.STAFF if to_status == OrderStatus.CANCELED else ""
                    ),
                )
                moved += 1
            except OrderError as error:
                refused.append(f"{order.number}: {error.message}")
        if moved:
            noun = "order" if moved == 1 else "orders"
            modeladmin.message_user(request, f"{moved} {noun}: {label.lower()}.")
        for message in refused:
            modeladmin.message_user(request, message, level=messages.WARNING)

    action.__name__ = f"mark_{to_status.lower()}"
    return admin.action(description=f"{label} the selected orders")(action)


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    """Orders and their lines. Status changes only through the actions, which go
    through order_transition (stock, events and emails follow)."""

    inlines = [OrderLineInline, PaymentInline]
    list_display = (
        "number",
        "email",
        "status",
        "total",
        "currency",
        "money_needs_attention",
        "created_at",
    )
    list_filter = ("status", "created_at")
    search_fields = ("number", "email", "shipping_name", "voucher_code")
    date_hierarchy = "created_at"
    list_select_related = ("user",)
    readonly_fields = (
        "number",
        "status",
        "cancel_reason",
        "user",
        "email",
        "currency",
        "subtotal",
        "discount",
        "voucher_code",
        "shipping_method_name",
        "shipping_price",
        "tax",
        "prices_include_tax",
        "total",
        "idempotency_key",
        "reserved_until",
        "created_at",
        "updated_at",
        "confirmation_sent_at",
        "cancellation_sent_at",
        "payment_received_sent_at",
        "refund_sent_at",
    )
    fieldsets = (
        (None, {"fields": ("number", "status", "cancel_reason", "user", "email")}),
        (
            "Amounts",
            {
                "fields": (
                    "currency",
                    "subtotal",
                    ("discount", "voucher_code"),
                    ("shipping_method_name", "shipping_price"),
                    ("tax", "prices_include_tax"),
                    "total",
                )
            },
        ),
        (
            "Shipping address",
            {
                "fields": (
                    "shipping_name",
                    "shipping_line1",
                    "shipping_line2",
                    "shipping_city",
                    "shipping_postal_code",
                    "shipping_country",
                )
            },
        ),
        (
            "History",
            {
                "fields": (
                    "idempotency_key",
                    "reserved_until",
                    "created_at",
                    "updated_at",
                    "confirmation_sent_at",
                    "cancellation_sent_at",
                    "payment_received_sent_at",
                    "refund_sent_at",
                )
            },
        ),
    )
    actions = (
        _transition_action(OrderStatus.PAID, "Mark paid"),
        _transition_action(OrderStatus.FULFILLED, "Mark fulfilled"),
        _transition_action(OrderStatus.REFUNDED, "Mark refunded"),
        _transition_action(OrderStatus.CANCELED, "Cancel"),
    )

    def has_add_permission(self, request) -> bool:
        return False  # orders come from checkout

    def has_delete_permission(self, request, obj=None) -> bool:
        # Orders are records: cancel one (the action above gives its stock back).
        return False

    def get_queryset(self, request):
        flagged = Payment.objects.filter(order=OuterRef("pk"), needs_attention=True)
        return super().get_queryset(request).annotate(money_flagged=Exists(flagged))

    @admin.display(boolean=True, description="Payment needs attention")
    def money_needs_attention(self, order: Order) -> bool:
        """A payment of the order needs staff: money that did not simply pay it,
        or a refund Stripe could not complete."""
        return order.money_flagged
