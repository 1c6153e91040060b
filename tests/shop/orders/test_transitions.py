"""order_transition, cancellation and expiry."""

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from shop.catalog.models import ProductVariant
from shop.orders.errors import ErrorCode, OrderError
from shop.orders.events import order_group, user_orders_group
from shop.orders.models import CancelReason, Order, OrderStatus
from shop.orders.services import (
    TRANSITIONS,
    checkout_complete,
    order_transition,
)
from tests.factories import UserFactory, make_product
from tests.orders_helpers import ADDRESS, guest_cart, guest_checkout, user_cart

pytestmark = pytest.mark.django_db

S = OrderStatus
ALLOWED = [
    (S.PENDING_PAYMENT, S.PAID),
    (S.PENDING_PAYMENT, S.CANCELED),
    (S.PAID, S.FULFILLED),
    (S.PAID, S.REFUNDED),
    (S.FULFILLED, S.REFUNDED),
]
BY_STAFF = CancelReason.STAFF  # read only by cancellations
REFUSED = [(start, end) for start in S for end in S if (start, end) not in ALLOWED]


@pytest.fixture
def variant(db):
    return make_product(variants=[{"quantity_available": 10}]).variants.get()


def order_in(status: str, variant) -> Order:
    order = guest_checkout(guest_cart((variant, 2)))
    Order.objects.filter(pk=order.pk).update(status=status)
    return order


def available(variant) -> int:
    return ProductVariant.objects.get(pk=variant.pk).quantity_available


def test_the_workflow_table():
    assert {(a, b) for a, nexts in TRANSITIONS.items() for b in nexts} == set(ALLOWED)


@pytest.mark.parametrize(("start", "end"), ALLOWED)
def test_allowed_transitions(variant, start, end):
    order = order_in(start, variant)
    moved = order_transition(order_id=order.pk, to_status=end, cancel_reason=BY_STAFF)
    assert moved.status == end
    assert Order.objects.get(pk=order.pk).status == end


@pytest.mark.parametrize(("start", "end"), REFUSED)
def test_refused_transitions_change_nothing(variant, start, end):
    order = order_in(start, variant)
    before = available(variant)
    with pytest.raises(OrderError) as caught:
        order_transition(order_id=order.pk, to_status=end, cancel_reason=BY_STAFF)
    assert caught.value.code == ErrorCode.INVALID_STATUS
    assert Order.objects.get(pk=order.pk).status == start
    assert available(variant) == before


def test_a_cancellation_records_its_reason(variant):
    order = order_in(S.PENDING_PAYMENT, variant)
    order_transition(order_id=order.pk, to_status=S.CANCELED, cancel_reason=BY_STAFF)
    assert Order.objects.get(pk=order.pk).cancel_reason == CancelReason.STAFF


def test_a_cancellation_without_a_reason_is_a_programming_error(variant):
    order = order_in(S.PENDING_PAYMENT, variant)
    with pytest.raises(ValueError, match="CancelReason"):
        order_transition(order_id=order.pk, to_status=S.CANCELED)
    assert Order.objects.get(pk=order.pk).status == S.PENDING_PAYMENT


@pytest.mark.parametrize("reason", [CancelReason.BUYER, CancelReason.STAFF, ""])
def test_a_late_payment_never_revives_a_cancellation_by_the_buyer_or_staff(
    variant, reason
):
    """Blank: canceled before reasons were recorded; refunding is the safe side."""
    order = guest_checkout(guest_cart((variant, 3)))
    order_transition(
        order_id=order.pk,
        to_status=S.CANCELED,
        cancel_reason=reason or CancelReason.BUYER,
    )
    Order.objects.filter(pk=order.pk).update(cancel_reason=reason)
    with pytest.raises(OrderError) as caught:
        order_transition(order_id=order.pk, to_status=S.PAID, payment_received=True)
    assert caught.value.code == ErrorCode.INVALID_STATUS
    assert Order.objects.get(pk=order.pk).status == S.CANCELED
    assert available(variant) == 10
    # its money goes back instead
    order_transition(order_id=order.pk, to_status=S.REFUNDED, payment_received=True)
    assert Order.objects.get(pk=order.pk).status == S.REFUNDED


def test_unknown_order():
    with pytest.raises(OrderError) as caught:
        order_transition(order_id=987654, to_status=S.PAID)
    assert caught.value.code == ErrorCode.NOT_FOUND


def test_canceling_an_unpaid_order_returns_its_stock(variant):
    order = guest_checkout(guest_cart((variant, 3)))
    assert available(variant) == 7
    order_transition(
        order_id=order.pk, to_status=S.CANCELED, cancel_reason=CancelReason.UNPAID
    )
    assert available(variant) == 10


def test_refunding_does_not_touch_stock(variant):
    order = order_in(S.PAID, variant)
    order_transition(order_id=order.pk, to_status=S.REFUNDED)
    assert available(variant) == 8


def test_stock_returns_even_if_the_variant_was_renamed_or_deleted(variant):
    other = make_product(variants=[{"quantity_available": 4}]).variants.get()
    order = guest_checkout(guest_cart((variant, 1), (other, 2)))
    other.delete()
    order_transition(
        order_id=order.pk, to_status=S.CANCELED, cancel_reason=CancelReason.UNPAID
    )
    assert available(variant) == 10


# ---------------------------------------------------------------- events


@pytest.mark.django_db(transaction=True)
def test_changes_and_new_orders_publish_events_on_commit(variant):
    layer = get_channel_layer()
    user = UserFactory()
    user_channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(user_orders_group(user.pk), user_channel)
    user_cart(user, (variant, 1))
    order = checkout_complete(user=user, cart_token=None, email=None, address=ADDRESS)
    order_channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(order_group(order.pk), order_channel)
    order_transition(order_id=order.pk, to_status=S.PAID)

    async def receive(channel, count):
        # one event loop for all receives: channels_redis finishes each receive
        # in the loop it started in
        return [await layer.receive(channel) for _ in range(count)]

    user_events = async_to_sync(receive)(user_channel, 2)
    order_events = async_to_sync(receive)(order_channel, 1)
    summary = [(e["order_id"], e["status"], e["previous_status"]) for e in user_events]
    assert summary == [
        (order.pk, "PENDING_PAYMENT", None),
        (order.pk, "PAID", "PENDING_PAYMENT"),
    ]
    assert order_events == [user_events[1]]
    assert user_events[1]["type"] == "order.event"
    assert user_events[1]["at"] == Order.objects.get(pk=order.pk).updated_at.isoformat()


# ---------------------------------------------------------------- late payments


def test_a_late_payment_takes_the_stock_again(variant):
    order = guest_checkout(guest_cart((variant, 3)))
    order_transition(
        order_id=order.pk, to_status=S.CANCELED, cancel_reason=CancelReason.UNPAID
    )
    assert available(variant) == 10
    order_transition(order_id=order.pk, to_status=S.PAID, payment_received=True)
    assert Order.objects.get(pk=order.pk).status == S.PAID
    assert available(variant) == 7


def test_a_late_payment_without_stock_changes_nothing(variant):
    other = make_product(variants=[{"quantity_available": 4}]).variants.get()
    order = guest_checkout(guest_cart((other, 1), (variant, 3)))
    order_transition(
        order_id=order.pk, to_status=S.CANCELED, cancel_reason=CancelReason.UNPAID
    )
    ProductVariant.objects.filter(pk=variant.pk).update(quantity_available=2)
    with pytest.raises(OrderError) as caught:
        order_transition(order_id=order.pk, to_status=S.PAID, payment_received=True)
    assert caught.value.code == ErrorCode.INSUFFICIENT_STOCK
    assert Order.objects.get(pk=order.pk).status == S.CANCELED
    assert available(other) == 4  # the line that fitted was not kept either
    assert available(variant) == 2


def test_a_late_payment_for_a_deleted_variant(variant):
    other = make_product(variants=[{"quantity_available": 4}]).variants.get()
    order = guest_checkout(guest_cart((variant, 1), (other, 1)))
    order_transition(
        order_id=order.pk, to_status=S.CANCELED, cancel_reason=CancelReason.UNPAID
    )
    other.delete()
    with pytest.raises(OrderError) as caught:
        order_transition(order_id=order.pk, to_status=S.PAID, payment_received=True)
    assert caught.value.code == ErrorCode.INSUFFICIENT_STOCK
    assert available(variant) == 10


def test_a_canceled_order_refunded_after_a_late_payment(variant):
    order = guest_checkout(guest_cart((variant, 1)))
    order_transition(
        order_id=order.pk, to_status=S.CANCELED, cancel_reason=CancelReason.UNPAID
    )
    order_transition(order_id=order.pk, to_status=S.REFUNDED, payment_received=True)
    assert Order.objects.get(pk=order.pk).status == S.REFUNDED
    assert available(variant) == 10


# ---------------------------------------------------------------- admin


def test_staff_change_statuses_only_through_admin_actions(variant):
    from django.test import Client
    from django.urls import reverse

    staff = UserFactory(is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(staff)
    pending = guest_checkout(guest_cart((variant, 2)))
    paid = order_in(S.PAID, variant)
    url = reverse("admin:orders_order_changelist")

    page = client.get(url, {"q": pending.number})
    assert page.status_code == 200
    assert pending.number in page.content.decode()
    assert client.get(url, {"status__exact": "PAID"}).status_code == 200
    detail = client.get(reverse("admin:orders_order_change", args=[pending.pk]))
    assert detail.status_code == 200
    assert 'name="status"' not in detail.content.decode()  # read-only

    response = client.post(
        url,
        {"action": "mark_canceled", "_selected_action": [pending.pk, paid.pk]},
        follow=True,
    )
    assert response.status_code == 200
    text = response.content.decode()
    assert "1 order: cancel." in text
    assert f"{paid.number}: A paid order cannot become canceled." in text
    assert Order.objects.get(pk=pending.pk).status == S.CANCELED
    assert Order.objects.get(pk=paid.pk).status == S.PAID
    assert available(variant) == 8  # the canceled order's 2 came back

    client.post(url, {"action": "mark_fulfilled", "_selected_action": [paid.pk]})
    assert Order.objects.get(pk=paid.pk).status == S.FULFILLED


def test_a_broker_outage_does_not_fail_a_committed_checkout(
    variant, monkeypatch, django_capture_on_commit_callbacks, caplog
):
    from kombu.exceptions import OperationalError

    from workers import app

    def broker_down(*args, **kwargs):
        raise OperationalError(
            "Error 111 connecting to redis:6379. Connection refused."
        )

    task = app.tasks["workers.tasks.orders.order_confirmation_send"]
    monkeypatch.setattr(task, "delay", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        order = guest_checkout(guest_cart((variant, 1)))
    assert Order.objects.get(pk=order.pk).status == S.PENDING_PAYMENT
    assert "was not enqueued" in caplog.text


def test_an_order_number_collision_draws_again(variant, monkeypatch):
    first = guest_checkout(guest_cart((variant, 1)))
    numbers = iter([first.number, first.number, "ZZZZ-0001"])
    monkeypatch.setattr("shop.orders.services.new_order_number", lambda: next(numbers))
    second = guest_checkout(guest_cart((variant, 1)))
    assert second.number == "ZZZZ-0001"
    assert available(variant) == 8
