"""Staff see payments and webhook events in the admin, searchable by order number
and Stripe id, with the raw payload; nobody edits or deletes them there."""

import pytest
from django.test import Client
from django.urls import reverse

from shop.payments import services
from shop.payments.models import Payment, StripeEvent
from tests.factories import make_product
from tests.orders_helpers import guest_cart, guest_checkout
from tests.payments_helpers import deliver_ok, open_session, session_completed
from tests.stripe_fake import stripe_event

pytestmark = pytest.mark.django_db


@pytest.fixture
def paid(stripe_fake):
    variant = make_product(variants=[{"price": "9.00"}]).variants.get()
    order = guest_checkout(guest_cart((variant, 1)))
    payment = open_session(order)
    event = session_completed(stripe_fake, payment, amount_total=1)  # a mismatch
    deliver_ok(event)
    return order, Payment.objects.get(pk=payment.pk), event


def page(client: Client, url: str, **query) -> str:
    response = client.get(url, query)
    assert response.status_code == 200
    return response.content.decode()


def test_payments_by_order_number_and_stripe_ids(admin_client, paid):
    order, payment, _ = paid
    url = reverse("admin:payments_payment_changelist")
    for term in (
        order.number,
        payment.stripe_checkout_session_id,
        payment.stripe_payment_intent_id,
    ):
        assert order.number in page(admin_client, url, q=term)
    assert order.number not in page(admin_client, url, q="cs_test_nothing")
    assert order.number in page(admin_client, url, needs_attention__exact="1")
    detail = page(
        admin_client, reverse("admin:payments_payment_change", args=[payment.pk])
    )
    assert "Amount mismatch" in detail


def test_events_with_their_raw_payload(admin_client, paid):
    order, _, event = paid
    url = reverse("admin:payments_stripeevent_changelist")
    assert event["id"] in page(admin_client, url, q=order.number)
    assert event["id"] in page(admin_client, url, q=event["id"])
    record = StripeEvent.objects.get()
    detail = page(
        admin_client, reverse("admin:payments_stripeevent_change", args=[record.pk])
    )
    assert "&quot;type&quot;: &quot;checkout.session.completed&quot;" in detail
    assert 'name="outcome"' not in detail  # read-only


def test_records_are_not_added_or_deleted_by_hand(admin_client, paid):
    _, payment, _ = paid
    for model in ("payment", "stripeevent"):
        assert (
            admin_client.get(reverse(f"admin:payments_{model}_add")).status_code == 403
        )
    delete = reverse("admin:payments_payment_delete", args=[payment.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    assert Payment.objects.filter(pk=payment.pk).exists()


def test_staff_mark_a_flagged_payment_reviewed(admin_client, paid):
    order, payment, _ = paid
    response = admin_client.post(
        reverse("admin:payments_payment_changelist"),
        {"action": "mark_reviewed", "_selected_action": [payment.pk]},
    )
    assert response.status_code == 302
    payment.refresh_from_db()
    assert not payment.needs_attention
    assert "Amount mismatch" in payment.attention_note  # the history stays
    order_page = page(
        admin_client, reverse("admin:orders_order_change", args=[order.pk])
    )
    assert "Checkout Session (hosted page)" in order_page  # the payments inline


def test_a_failed_refund_shows_on_the_payment_and_its_order(admin_client, stripe_fake):
    variant = make_product(variants=[{"price": "9.00"}]).variants.get()
    order = guest_checkout(guest_cart((variant, 1)))
    payment = services.payment_intent_create(order=order)
    intent = stripe_fake.succeed_intent(payment.stripe_payment_intent_id)
    deliver_ok(stripe_event("payment_intent.succeeded", intent))
    orders = reverse("admin:orders_order_changelist")
    assert 'alt="False"' in page(admin_client, orders)  # needs no attention yet
    refund = stripe_fake.refund_intent(intent["id"], status="pending")
    failed = stripe_fake.refund_becomes(refund["id"], "failed", "lost_or_stolen_card")
    deliver_ok(stripe_event("refund.failed", failed))
    assert 'alt="True"' in page(admin_client, orders)
    detail = page(
        admin_client, reverse("admin:payments_payment_change", args=[payment.pk])
    )
    assert refund["id"] in detail
    assert "Failed (the money did NOT go back)" in detail
    assert "lost_or_stolen_card" in detail
