import json

from django.contrib import admin
from django.utils.html import format_html

from shop.payments.models import Payment, Refund, StripeEvent


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records written by the payment services and the webhook only."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class StripeEventInline(admin.TabularInline):
    model = StripeEvent
    fk_name = "payment"
    extra = 0
    fields = ("received_at", "type", "stripe_id", "outcome", "note")
    readonly_fields = fields
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class RefundInline(admin.TabularInline):
    model = Refund
    extra = 0
    can_delete = False
    fields = (
        "created_at",
        "stripe_refund_id",
        "amount",
        "currency",
        "status",
        "failure_reason",
        "updated_at",
    )
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    """Every attempt to pay an order. Filter on "needs attention" for money that
    did not simply pay its order (amount mismatch, late or second payments) and
    for refunds Stripe could not complete. Its refunds are listed with the status
    Stripe last reported: only a succeeded one gave money back."""

    list_display = (
        "order",
        "kind",
        "status",
        "amount",
        "currency",
        "amount_received",
        "amount_refunded",
        "amount_refund_pending",
        "settles_order",
        "needs_attention",
        "created_at",
    )
    list_filter = ("needs_attention", "status", "kind", "created_at")
    search_fields = (
        "order__number",
        "order__email",
        "stripe_checkout_session_id",
        "stripe_payment_intent_id",
    )
    list_select_related = ("order",)
    date_hierarchy = "created_at"
    readonly_fields = [
        field.name
        for field in Payment._meta.fields
        if field.name not in ("needs_attention", "attention_note")
    ]
    inlines = [RefundInline, StripeEventInline]
    actions = ("mark_reviewed",)

    @admin.action(description="Mark reviewed (clear the attention flag)")
    def mark_reviewed(self, request, queryset) -> None:
        count = queryset.update(needs_attention=False)
        self.message_user(request, f"{count} payments marked reviewed.")


@admin.register(StripeEvent)
class StripeEventAdmin(ReadOnlyAdmin):
    """The webhook ledger: each Stripe event once, with its raw payload."""

    list_display = ("received_at", "type", "stripe_id", "outcome", "order", "note")
    list_filter = ("outcome", "type", "livemode", "received_at")
    search_fields = (
        "stripe_id",
        "object_id",
        "order__number",
        "payment__stripe_checkout_session_id",
        "payment__stripe_payment_intent_id",
    )
    list_select_related = ("order",)
    date_hierarchy = "received_at"
    exclude = ("payload",)
    readonly_fields = [
        *(field.name for field in StripeEvent._meta.fields if field.name != "payload"),
        "raw_payload",
    ]

    @admin.display(description="Payload")
    def raw_payload(self, event: StripeEvent) -> str:
        return format_html(
            '<pre style="white-space: pre-wrap">{}</pre>',
            json.dumps(event.payload, indent=2, sort_keys=True),
        )

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # staff with view permission read it
