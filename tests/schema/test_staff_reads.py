"""Staff read beyond their own only with the model's view permission, as in the
admin: orders (also to pay them by id), users, unpublished products. Staff
without it are ordinary users; superusers hold every permission."""

import pytest
from django.contrib.auth.models import Group, Permission
from strawberry.relay import to_base64

from shop.orders.services import checkout_complete
from shop.payments.models import Payment
from tests.factories import UserFactory, make_product
from tests.orders_helpers import ADDRESS, user_cart
from tests.payments_helpers import CANCEL_URL, SUCCESS_URL

pytestmark = pytest.mark.django_db

ORDER = """query($id: ID!) {
  order(id: $id) { number }
  node(id: $id) { ... on Order { number } } }"""
USER = """query($id: ID!) {
  node(id: $id) { ... on User { email orders { edges { node { number } } } } } }"""
HIDDEN = '{ product(slug: "hidden") { slug } products { totalCount } }'
PAY = """mutation($id: ID!, $ok: String!, $cancel: String!) {
  paymentCheckoutSessionCreate(orderId: $id, successUrl: $ok, cancelUrl: $cancel) {
    sessionId errors { field code message } } }"""
NO_SUCH_ORDER = {"field": "orderId", "code": "NOT_FOUND", "message": "No such order."}


def staff(*permissions: str, via: str = "group", **fields):
    """A member of staff holding ``permissions`` ("app.codename") through a group
    or directly."""
    user = UserFactory(is_staff=True, **fields)
    granted = [
        Permission.objects.get(
            content_type__app_label=permission.split(".")[0],
            codename=permission.split(".")[1],
        )
        for permission in permissions
    ]
    if via == "group":
        group = Group.objects.create(name=f"Readers of {user.email}")
        group.permissions.set(granted)
        user.groups.add(group)
    else:
        user.user_permissions.set(granted)
    return user


@pytest.fixture
def variant():
    return make_product(
        variants=[{"price": "12.50", "quantity_available": 9}]
    ).variants.get()


def place_order(user, variant):
    user_cart(user, (variant, 1))
    return checkout_complete(user=user, cart_token=None, email=None, address=ADDRESS)


@pytest.fixture
def buyer():
    return UserFactory(email="buyer@example.com")


@pytest.fixture
def buyer_order(buyer, variant):
    return place_order(buyer, variant)


def read_order(gql, order) -> dict:
    return gql.ok(ORDER, {"id": to_base64("Order", order.pk)})


# ---------------------------------------------------------------- orders


def test_staff_without_the_permission_read_their_own_orders_only(
    gql, variant, buyer_order
):
    member = staff("accounts.view_user", "catalog.view_product")
    own = place_order(member, variant)
    gql.login(member)
    assert read_order(gql, buyer_order) == {"order": None, "node": None}
    assert read_order(gql, own) == {
        "order": {"number": own.number},
        "node": {"number": own.number},
    }
    # the buyer is visible (accounts.view_user), their orders are not
    data = gql.ok(USER, {"id": to_base64("User", buyer_order.user_id)})
    assert data == {"node": {"email": "buyer@example.com", "orders": {"edges": []}}}


@pytest.mark.parametrize(
    "make_staff",
    [
        lambda: staff("orders.view_order"),
        lambda: staff("orders.view_order", via="user"),
        lambda: staff(is_superuser=True),
    ],
    ids=["group", "user_permissions", "superuser"],
)
def test_staff_with_the_permission_read_every_order(gql, buyer_order, make_staff):
    gql.login(make_staff())
    number = buyer_order.number
    assert read_order(gql, buyer_order) == {
        "order": {"number": number},
        "node": {"number": number},
    }


def test_staff_without_the_permission_cannot_pay_anothers_order_by_id(
    gql, stripe_fake, buyer_order
):
    gql.login(staff("accounts.view_user", "catalog.view_product"))
    variables = {
        "id": to_base64("Order", buyer_order.pk),
        "ok": SUCCESS_URL,
        "cancel": CANCEL_URL,
    }
    payload = gql.ok(PAY, variables)["paymentCheckoutSessionCreate"]
    assert payload == {"sessionId": None, "errors": [NO_SUCH_ORDER]}
    assert stripe_fake.calls == []
    assert not Payment.objects.exists()

    gql.login(staff("orders.view_order"))
    payload = gql.ok(PAY, variables)["paymentCheckoutSessionCreate"]
    assert payload["errors"] == []
    assert Payment.objects.get().order_id == buyer_order.pk


# ---------------------------------------------------------------- users


def test_staff_read_other_users_only_with_the_permission(gql, buyer_order):
    query = {"id": to_base64("User", buyer_order.user_id)}
    gql.login(staff("orders.view_order", "catalog.view_product"))
    assert gql.ok(USER, query) == {"node": None}
    gql.login(staff("accounts.view_user", "orders.view_order", via="user"))
    assert gql.ok(USER, query) == {
        "node": {
            "email": "buyer@example.com",
            "orders": {"edges": [{"node": {"number": buyer_order.number}}]},
        }
    }


# ---------------------------------------------------------------- products


def test_staff_see_unpublished_products_only_with_the_permission(gql):
    make_product(name="Hidden", slug="hidden", is_published=False)
    gql.login(staff("orders.view_order", "accounts.view_user"))
    assert gql.ok(HIDDEN) == {"product": None, "products": {"totalCount": 0}}
    gql.login(staff("catalog.view_product"))
    assert gql.ok(HIDDEN) == {
        "product": {"slug": "hidden"},
        "products": {"totalCount": 1},
    }
