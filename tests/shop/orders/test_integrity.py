"""Orders stay records: one cart state makes one order, an order in progress is
never deleted (the admin cancels it instead), and a total the money columns
cannot hold is refused before anything is written."""

from decimal import Decimal

import pytest
from django.db.models import ProtectedError
from django.urls import reverse

from shop.orders.models import CancelReason, Order, OrderStatus
from shop.orders.services import order_transition
from tests.factories import make_product
from tests.orders_helpers import (
    ADDRESS_INPUT,
    guest_cart,
    guest_cart_add,
    guest_checkout,
)
from tests.payments_helpers import stock

pytestmark = pytest.mark.django_db

S = OrderStatus
CHECKOUT = """mutation($input: CheckoutInput!) {
  checkout(input: $input) { order { number } errors { field code message } } }"""


@pytest.fixture
def variant(db):
    return make_product(variants=[{"quantity_available": 5}]).variants.get()


# ---------------------------------------------------------------- one cart state


def test_the_same_cart_state_checked_out_again_answers_the_first_order(
    variant, monkeypatch
):
    token = guest_cart((variant, 1))
    # The first request's cart update after commit is lost (Redis hiccup): the
    # cart still holds what was bought.
    monkeypatch.setattr("shop.orders.services._cart_settle", lambda cart, bought: None)
    first = guest_checkout(token)
    again = guest_checkout(token)
    assert again.pk == first.pk
    assert stock(variant) == 4


def test_a_changed_cart_is_a_new_order(variant, django_capture_on_commit_callbacks):
    token = guest_cart((variant, 1))
    with django_capture_on_commit_callbacks(execute=True):
        first = guest_checkout(token)  # the bought unit leaves the cart on commit
    guest_cart_add(token, (variant, 1))  # the same item, bought again on purpose
    second = guest_checkout(token)
    assert second.pk != first.pk
    assert stock(variant) == 3


# ---------------------------------------------------------------- deletion


def test_the_admin_cannot_delete_an_order_and_cancelling_gives_stock_back(
    admin_client, variant
):
    order = guest_checkout(guest_cart((variant, 3)))
    assert stock(variant) == 2

    response = admin_client.post(
        reverse("admin:orders_order_delete", args=[order.pk]), {"post": "yes"}
    )
    assert response.status_code == 403
    changelist = reverse("admin:orders_order_changelist")
    response = admin_client.post(
        changelist,
        {"action": "delete_selected", "_selected_action": [order.pk], "post": "yes"},
    )
    assert Order.objects.filter(pk=order.pk).exists()
    assert stock(variant) == 2
    assert "delete_selected" not in admin_client.get(changelist).content.decode()

    response = admin_client.post(
        changelist, {"action": "mark_canceled", "_selected_action": [order.pk]}
    )
    assert response.status_code == 302
    assert Order.objects.get(pk=order.pk).status == S.CANCELED
    assert stock(variant) == 5


def test_no_code_path_deletes_an_order_in_progress(variant):
    pending = guest_checkout(guest_cart((variant, 1)))
    paid = guest_checkout(guest_cart((variant, 1)))
    order_transition(order_id=paid.pk, to_status=S.PAID)
    for order in (pending, paid):
        with pytest.raises(ProtectedError, match="cancel them"):
            order.delete()
        with pytest.raises(ProtectedError):
            Order.objects.filter(pk=order.pk).delete()
    assert Order.objects.count() == 2
    assert stock(variant) == 3

    order_transition(
        order_id=pending.pk, to_status=S.CANCELED, cancel_reason=CancelReason.UNPAID
    )
    Order.objects.filter(pk=pending.pk).delete()  # a closed record may go
    assert list(Order.objects.values_list("pk", flat=True)) == [paid.pk]
    assert stock(variant) == 4


# ---------------------------------------------------------------- amounts


def test_a_total_beyond_the_money_columns_is_invalid_and_writes_nothing(gql):
    variant = make_product(
        variants=[{"price": Decimal("6000000000.00"), "quantity_available": 5}]
    ).variants.get()
    token = guest_cart((variant, 2))
    payload = gql.ok(
        CHECKOUT,
        {
            "input": {
                "cartToken": token,
                "email": "big@example.com",
                "shippingAddress": ADDRESS_INPUT,
            }
        },
    )["checkout"]
    [error] = payload["errors"]
    assert (error["field"], error["code"]) == ("lines", "INVALID")
    assert "at most 9,999,999,999.99" in error["message"]
    assert payload["order"] is None
    assert not Order.objects.exists()
    assert stock(variant) == 5
    # One unit fits.
    assert guest_checkout(guest_cart((variant, 1))).total == Decimal("6000000000.00")
