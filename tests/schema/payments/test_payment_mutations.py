"""paymentCheckoutSessionCreate and paymentIntentCreate over GraphQL: who may pay
which order, and the payloads a storefront reads."""

import pytest
from strawberry.relay import to_base64

from shop.orders.models import Order
from shop.payments.models import Payment
from tests.factories import UserFactory, make_product
from tests.orders_helpers import ADDRESS, guest_cart, guest_checkout, user_cart
from tests.payments_helpers import CANCEL_URL, SUCCESS_URL

pytestmark = pytest.mark.django_db

SESSION = """
mutation($id: ID, $token: String, $ok: String!, $cancel: String!) {
  paymentCheckoutSessionCreate(orderId: $id, orderToken: $token,
                               successUrl: $ok, cancelUrl: $cancel) {
    url sessionId expiresAt
    order { number status reservedUntil }
    errors { field code message }
  }
}
"""
INTENT = """
mutation($id: ID, $token: String) {
  paymentIntentCreate(orderId: $id, orderToken: $token) {
    clientSecret paymentIntentId
    order { number }
    errors { field code message }
  }
}
"""


@pytest.fixture
def variant(db):
    return make_product(variants=[{"price": "12.50"}]).variants.get()


@pytest.fixture
def guest_order(variant):
    return guest_checkout(guest_cart((variant, 2)))


@pytest.fixture
def owner(db):
    return UserFactory()


@pytest.fixture
def user_order(owner, variant):
    from shop.orders.services import checkout_complete

    user_cart(owner, (variant, 1))
    return checkout_complete(user=owner, cart_token=None, email=None, address=ADDRESS)


def session(gql, **variables):
    variables = {"ok": SUCCESS_URL, "cancel": CANCEL_URL, **variables}
    return gql(SESSION, variables)


def test_a_guest_pays_by_order_token(gql, stripe_fake, guest_order):
    result = session(gql, token=guest_order.token)
    payload = result.data["paymentCheckoutSessionCreate"]
    [created] = stripe_fake.sessions.values()
    payment = Payment.objects.get()
    assert payload["errors"] == []
    assert payload["url"] == created["url"]
    assert payload["sessionId"] == created["id"]
    assert payload["expiresAt"] == payment.expires_at.isoformat()
    order = Order.objects.get(pk=guest_order.pk)
    assert payload["order"] == {
        "number": order.number,
        "status": "PENDING_PAYMENT",
        "reservedUntil": order.reserved_until.isoformat(),
    }
    assert order.reserved_until == payment.expires_at
    # asked again: the same page
    again = session(gql, token=guest_order.token).data["paymentCheckoutSessionCreate"]
    assert again["sessionId"] == created["id"]


def test_the_owner_pays_by_id(gql, stripe_fake, owner, user_order):
    gql.login(owner)
    result = gql(INTENT, {"id": to_base64("Order", user_order.pk)})
    payload = result.data["paymentIntentCreate"]
    [intent] = stripe_fake.intents.values()
    assert payload == {
        "clientSecret": intent["client_secret"],
        "paymentIntentId": intent["id"],
        "order": {"number": user_order.number},
        "errors": [],
    }


def test_staff_may_start_a_payment_for_any_order(
    gql, stripe_fake, staff_user, user_order
):
    gql.login(staff_user)
    payload = session(gql, id=to_base64("Order", user_order.pk)).data[
        "paymentCheckoutSessionCreate"
    ]
    assert payload["errors"] == []
    assert payload["sessionId"].startswith("cs_test_")


def test_someone_elses_order_is_not_found(gql, stripe_fake, user_order, guest_order):
    gql.login(UserFactory())
    for order in (user_order, guest_order):
        for document, name in (
            (SESSION, "paymentCheckoutSessionCreate"),
            (INTENT, "paymentIntentCreate"),
        ):
            variables = {"id": to_base64("Order", order.pk)}
            if document is SESSION:
                variables |= {"ok": SUCCESS_URL, "cancel": CANCEL_URL}
            payload = gql(document, variables).data[name]
            assert payload["errors"] == [
                {"field": "orderId", "code": "NOT_FOUND", "message": "No such order."}
            ]
    assert stripe_fake.calls == []
    assert not Payment.objects.exists()


def test_an_unknown_token_is_not_found(gql, stripe_fake):
    payload = gql(INTENT, {"token": "nope"}).data["paymentIntentCreate"]
    assert payload["errors"][0]["code"] == "NOT_FOUND"
    assert payload["errors"][0]["field"] == "orderToken"
    assert payload["clientSecret"] is None
    assert stripe_fake.calls == []
    assert not Payment.objects.exists()


def test_naming_an_order_by_id_needs_a_signed_in_user(gql, stripe_fake, user_order):
    result = gql(INTENT, {"id": to_base64("Order", user_order.pk)})
    assert result.error_codes() == ["UNAUTHENTICATED"]
    assert result.data is None
    gql.authorize("Bearer not-a-token")
    result = gql(INTENT, {"id": to_base64("Order", user_order.pk)})
    assert result.error_codes() == ["UNAUTHENTICATED"]
    assert result.errors[0]["message"] == "The access token is invalid."
    assert stripe_fake.calls == []
    assert not Payment.objects.exists()
    assert (
        Order.objects.get(pk=user_order.pk).reserved_until == user_order.reserved_until
    )


@pytest.mark.parametrize(
    ("variables", "field"),
    [
        ({}, "orderId"),
        ({"id": "T3JkZXI6MQ==", "token": "x"}, "orderId"),
        ({"id": to_base64("Product", 1)}, "orderId"),
        ({"id": "%%%"}, "orderId"),
    ],
)
def test_malformed_order_references(gql, stripe_fake, owner, variables, field):
    gql.login(owner)
    payload = gql(INTENT, variables).data["paymentIntentCreate"]
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [(field, "INVALID")]
    assert stripe_fake.calls == []
    assert not Payment.objects.exists()


def test_refusals_arrive_as_payload_errors(gql, stripe_fake, guest_order):
    payload = session(gql, token=guest_order.token, ok="mailto:x@example.com").data[
        "paymentCheckoutSessionCreate"
    ]
    assert payload["errors"] == [
        {
            "field": "successUrl",
            "code": "INVALID",
            "message": "Give an http(s) URL of at most 2048 characters.",
        }
    ]
    stripe_fake.fail_next(402, "card_error", "Your account cannot take payments.")
    payload = gql(INTENT, {"token": guest_order.token}).data["paymentIntentCreate"]
    assert payload["errors"] == [
        {
            "field": None,
            "code": "PAYMENT_ERROR",
            "message": "Stripe: Your account cannot take payments.",
        }
    ]
    assert payload["clientSecret"] is None
    assert not Payment.objects.exists()
