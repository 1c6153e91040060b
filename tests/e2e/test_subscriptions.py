"""Live order status over WebSocket, end to end: a real uvicorn process on
PostgreSQL and Redis, a real Celery worker, and a graphql-transport-ws client
(tests/e2e/ws_client.py) connecting as a storefront's GraphQLWsLink does.

Every status change is made away from the subscriber's socket: by the Stripe
webhook, the admin action and a buyer's orderCancel (HTTP requests to the server),
by the worker expiring an order, or by the test process itself; all reach the
subscriber through the Redis channel layer. Each must reach each subscriber
exactly once: after an event arrives, a short quiet window shows no copy follows.
"""

import asyncio
import contextlib
import json
import os
import re
import subprocess
import time
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from http.cookiejar import CookieJar
from typing import NamedTuple

import pytest
from django_redis import get_redis_connection
from graphql_jwt.shortcuts import get_token
from graphql_jwt.utils import jwt_encode
from strawberry import relay

from shop.accounts.tokens import jwt_payload
from shop.orders import services as order_services
from shop.orders.models import Order, OrderStatus
from tests.e2e.servers import celery_worker, post_webhook, server_database_url, uvicorn
from tests.e2e.ws_client import (
    LEGACY_WS,
    AsyncConnection,
    Closed,
    Connection,
    run,
    ws_url,
)
from tests.factories import UserFactory, make_product
from tests.orders_helpers import ADDRESS, guest_cart, guest_checkout, user_cart
from tests.stripe_fake import FakeStripe, stripe_event
from workers import app as celery_app

pytestmark = [
    pytest.mark.django_db(transaction=True),
    # One worker runs the module, so its server starts once.
    pytest.mark.xdist_group("subscriptions"),
]

PASSWORD = "a long passphrase 1"  # tests.factories.UserFactory's
EVENT_FIELDS = "order { number } status previousStatus at"
ORDER_STATUS_CHANGED = f"""
subscription($id: ID, $token: String, $current: Boolean! = false) {{
  orderStatusChanged(orderId: $id, token: $token, includeCurrent: $current) {{
    {EVENT_FIELDS}
  }}
}}"""
MY_ORDER_EVENTS = f"subscription {{ myOrderEvents {{ {EVENT_FIELDS} }} }}"
ME = "{ me { email } }"
CART = "{ cart { totalQuantity } }"
CART_EMPTY = {"totalQuantity": 0}
# Long enough for a duplicate to cross Redis between processes (milliseconds).
QUIET = 1.0


class Server(NamedTuple):
    base: str  # http://127.0.0.1:<port>
    ws: str  # ws://127.0.0.1:<port>/graphql/


# ---------------------------------------------------------------- processes


@pytest.fixture(scope="module")
def stripe_api():
    fake = FakeStripe()
    yield fake
    fake.close()


@pytest.fixture(scope="module")
def environment(django_db_setup, stripe_api, tmp_path_factory) -> dict[str, str]:
    """The server's and the worker's environment: the test database and Redis."""
    return {
        **os.environ,
        "DATABASE_URL": server_database_url(),
        "REDIS_URL": os.environ["REDIS_URL"],
        "DJANGO_DEBUG": "false",
        "DJANGO_LOG_LEVEL": "WARNING",
        # the admin's session over plain http
        "DJANGO_SECURE_COOKIES": "false",
        "STRIPE_API_BASE": stripe_api.base,
        # django-environ: four slashes for an absolute path
        "EMAIL_URL": f"filemail:///{tmp_path_factory.mktemp('mail')}",
    }


@pytest.fixture(scope="module")
def server(environment, tmp_path_factory):
    """One uvicorn for the module: it only needs the database's URL, and each
    transactional test commits what it creates before the server reads it."""
    log = tmp_path_factory.mktemp("ws-server") / "web.log"
    with uvicorn(environment, log) as base:
        yield Server(base, ws_url(base))


@pytest.fixture
def worker(environment, tmp_path):
    """`celery -A workers worker`, as production runs it (its own per test: each
    test starts with an empty Redis, broker queues included)."""
    with celery_worker("e2e-ws", environment, tmp_path / "worker.log"):
        yield tmp_path / "worker.log"


# ---------------------------------------------------------------- helpers


def global_id(order: Order) -> str:
    return relay.to_base64("Order", order.pk)


def user_order(user, price="10.00") -> Order:
    """A PENDING_PAYMENT order placed by ``user`` (committed)."""
    variant = make_product(variants=[{"price": price, "quantity_available": 5}])
    user_cart(user, (variant.variants.get(), 1))
    return order_services.checkout_complete(
        user=user, cart_token=None, email=None, address=ADDRESS
    )


def guest_order() -> Order:
    variant = make_product(variants=[{"price": "12.00", "quantity_available": 5}])
    return guest_checkout(guest_cart((variant.variants.get(), 1)))


def http_graphql(base: str, query: str, token: str | None = None, **variables):
    """POST /graphql/ as a storefront does; the whole response body."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(
        f"{base}/graphql/",
        data=json.dumps({"query": query, "variables": variables}).encode(),
        headers=headers,
    )
    with urllib.request.urlopen(request, timeout=20) as response:
        return json.loads(response.read())


def without_request_ids(body: dict) -> dict:
    """A response with its errors' extensions.requestId dropped (one per request)."""
    errors = [
        {
            **error,
            "extensions": {
                k: v for k, v in error.get("extensions", {}).items() if k != "requestId"
            },
        }
        for error in body.get("errors") or []
    ]
    return {**body, "errors": errors} if errors else body


def change(payload: dict, field: str) -> tuple[str, str, str | None]:
    """(order number, status, previousStatus) of an event payload without
    errors; its time must be an ISO date-time."""
    assert payload.get("errors") is None, payload
    event = payload["data"][field]
    datetime.fromisoformat(event["at"])
    return event["order"]["number"], event["status"], event["previousStatus"]


def refusal_codes(operation) -> list[str | None]:
    """The error codes a refused operation got, having checked it never got data:
    an ``error`` message, or ``next`` with data null and errors, then ``complete``."""
    messages = operation.until_end(timeout=10)
    if messages[-1]["type"] == "error":
        errors = messages[-1]["payload"]
        assert messages[:-1] == [], messages
    else:
        assert [m["type"] for m in messages] == ["next", "complete"], messages
        assert messages[0]["payload"].get("data") is None, messages
        errors = messages[0]["payload"]["errors"]
    return [error.get("extensions", {}).get("code") for error in errors]


def group_members(group: str) -> int:
    """How many channels are in a channel-layer group now (channels_redis keeps a
    sorted set per group)."""
    redis = get_redis_connection("default")
    return redis.zcard(f"asgi:group:{group}")


def wait_for_group(
    group: str, members: int = 1, *, exactly: bool = False, timeout: float = 5
) -> None:
    """Until a group has at least (or exactly) ``members`` channels: a
    subscription has joined it (events sent before that are lost), or left."""
    deadline = time.monotonic() + timeout
    while (now := group_members(group)) != members and (exactly or now < members):
        assert time.monotonic() < deadline, f"{group}: {now} members"
        time.sleep(0.05)


class AdminBrowser:
    """A browser signed in to the admin with a password: session and CSRF
    cookies, forms posted with their CSRF token."""

    CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')

    def __init__(self, base: str) -> None:
        self.base = base
        self.cookies = CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.cookies)
        )

    def get(self, path: str) -> str:
        with self.opener.open(self.base + path, timeout=20) as response:
            return response.read().decode()

    def post(self, path: str, fields: dict) -> str:
        page = self.get(path)
        token = self.CSRF_FIELD.search(page)
        assert token, page[:2000]
        data = urllib.parse.urlencode(
            {"csrfmiddlewaretoken": token.group(1), **fields}, doseq=True
        ).encode()
        with self.opener.open(self.base + path, data=data, timeout=20) as response:
            return response.read().decode()

    def login(self, email: str, password: str) -> None:
        self.post(
            "/admin/login/?next=/admin/",
            {"username": email, "password": password, "next": "/admin/"},
        )
        assert any(cookie.name == "sessionid" for cookie in self.cookies)


# ---------------------------------------------------------------- deliveries


def test_payment_webhook_reaches_owner_and_staff_once(server, stripe_api, staff_user):
    buyer = UserFactory()
    order = user_order(buyer, price="49.90")
    with (
        Connection.connect(server.ws, get_token(buyer)) as owner,
        Connection.connect(server.ws, get_token(staff_user)) as staff,
    ):
        follows = [
            connection.subscribe(
                ORDER_STATUS_CHANGED, id=global_id(order), current=True
            )
            for connection in (owner, staff)
        ]
        for follow in follows:  # the current state first: the subscription is live
            current = change(follow.next_event(), "orderStatusChanged")
            assert current == (order.number, "PENDING_PAYMENT", None)

        session = http_graphql(
            server.base,
            """mutation($id: ID!) { paymentCheckoutSessionCreate(orderId: $id,
                 successUrl: "http://localhost:3000/thanks",
                 cancelUrl: "http://localhost:3000/cart") {
                 sessionId errors { code } } }""",
            get_token(buyer),
            id=global_id(order),
        )["data"]["paymentCheckoutSessionCreate"]
        assert session["errors"] == []
        completed = stripe_event(
            "checkout.session.completed",
            stripe_api.complete_session(session["sessionId"]),
        )
        assert post_webhook(server.base, completed)["outcome"] == "PROCESSED"
        # Stripe delivers again: recorded as a duplicate, no second event
        assert post_webhook(server.base, completed)["duplicate"] is True

        for follow in follows:
            paid = change(follow.next_event(timeout=10), "orderStatusChanged")
            assert paid == (order.number, "PAID", "PENDING_PAYMENT")
        assert [follow.quiet(QUIET) for follow in follows] == [[], []]
    assert Order.objects.get(pk=order.pk).status == OrderStatus.PAID


def test_worker_task_reaches_subscriber_once(server, worker):
    buyer = UserFactory()
    order = user_order(buyer)
    Order.objects.filter(pk=order.pk).update(
        reserved_until=datetime.now(UTC) - timedelta(minutes=1)
    )
    with Connection.connect(server.ws, get_token(buyer)) as owner:
        follow = owner.subscribe(
            ORDER_STATUS_CHANGED, id=global_id(order), current=True
        )
        assert change(follow.next_event(), "orderStatusChanged")[1] == "PENDING_PAYMENT"

        celery_app.send_task("workers.tasks.orders.orders_expire")

        try:
            canceled = change(follow.next_event(timeout=20), "orderStatusChanged")
        except TimeoutError:
            pytest.fail(worker.read_text())
        assert canceled == (order.number, "CANCELED", "PENDING_PAYMENT")
        assert follow.quiet(QUIET) == []
    assert Order.objects.get(pk=order.pk).status == OrderStatus.CANCELED


def test_admin_action_reaches_token_holder_and_staff_once(
    server, superuser, staff_user
):
    """A guest order, followed by an anonymous token holder and by staff, canceled
    with the admin's action by a superuser signed in with a password."""
    superuser.set_password(PASSWORD)
    superuser.save()
    order = guest_order()
    with (
        Connection.connect(server.ws) as guest,
        Connection.connect(server.ws, get_token(staff_user)) as staff,
    ):
        follows = [
            guest.subscribe(ORDER_STATUS_CHANGED, token=order.token, current=True),
            staff.subscribe(ORDER_STATUS_CHANGED, id=global_id(order), current=True),
        ]
        for follow in follows:
            current = change(follow.next_event(), "orderStatusChanged")
            assert current == (order.number, "PENDING_PAYMENT", None)

        admin = AdminBrowser(server.base)
        admin.login(superuser.email, PASSWORD)
        page = admin.post(
            "/admin/orders/order/",
            {"action": "mark_canceled", "_selected_action": [order.pk], "index": 0},
        )
        assert "1 order: cancel." in page

        for follow in follows:
            canceled = change(follow.next_event(timeout=10), "orderStatusChanged")
            assert canceled == (order.number, "CANCELED", "PENDING_PAYMENT")
        assert [follow.quiet(QUIET) for follow in follows] == [[], []]
    assert Order.objects.get(pk=order.pk).status == OrderStatus.CANCELED


def test_my_order_events_creation_and_changes_once_each(server):
    """A new order placed over HTTP, then canceled by its buyer's orderCancel over
    HTTP: myOrderEvents gets both, once each, though the same socket also follows
    the order with orderStatusChanged (both groups reach this socket)."""
    buyer = UserFactory()
    token = get_token(buyer)
    variant = make_product(variants=[{"price": "8.00", "quantity_available": 5}])
    variant_id = relay.to_base64("ProductVariant", variant.variants.get().pk)
    with Connection.connect(server.ws, token) as socket:
        mine = socket.subscribe(MY_ORDER_EVENTS)
        wait_for_group(f"user.{buyer.pk}.orders")

        added = http_graphql(
            server.base,
            """mutation($lines: [CartLineInput!]!) { cartLinesAdd(lines: $lines) {
                 errors { code } } }""",
            token,
            lines=[{"variantId": variant_id, "quantity": 2}],
        )
        assert added == {"data": {"cartLinesAdd": {"errors": []}}}
        placed = http_graphql(
            server.base,
            """mutation($input: CheckoutInput!) { checkout(input: $input) {
                 order { id number } errors { code } } }""",
            token,
            input={
                "shippingAddress": {
                    "name": "Ada",
                    "line1": "1 Main St",
                    "city": "Paris",
                    "postalCode": "75001",
                    "country": "FR",
                }
            },
        )["data"]["checkout"]
        assert placed["errors"] == []
        number = placed["order"]["number"]
        created = change(mine.next_event(timeout=10), "myOrderEvents")
        assert created == (number, "PENDING_PAYMENT", None)

        follow = socket.subscribe(
            ORDER_STATUS_CHANGED, id=placed["order"]["id"], current=True
        )
        current = change(follow.next_event(), "orderStatusChanged")
        assert current == (number, "PENDING_PAYMENT", None)
        assert mine.quiet(0.2) == []  # includeCurrent is for that operation only

        canceled = http_graphql(
            server.base,
            "mutation($id: ID!) { orderCancel(id: $id) { order { status } "
            "errors { code } } }",
            token,
            id=placed["order"]["id"],
        )
        assert canceled == {
            "data": {"orderCancel": {"order": {"status": "CANCELED"}, "errors": []}}
        }
        for operation, field in (
            (mine, "myOrderEvents"),
            (follow, "orderStatusChanged"),
        ):
            event = change(operation.next_event(timeout=10), field)
            assert event == (number, "CANCELED", "PENDING_PAYMENT")
        assert [mine.quiet(QUIET), follow.quiet(0)] == [[], []]
    # the socket closed: its groups are left
    wait_for_group(f"user.{buyer.pk}.orders", members=0, exactly=True)
    order_pk = Order.objects.get(number=number).pk
    wait_for_group(f"order.{order_pk}", members=0, exactly=True)


def test_legacy_graphql_ws_protocol_follows_an_order(server):
    """The older subscriptions-transport-ws protocol (start/data/stop), as older
    Apollo clients speak it."""
    order = guest_order()
    with Connection.connect(server.ws, protocol=LEGACY_WS) as legacy:
        follow = legacy.subscribe(ORDER_STATUS_CHANGED, token=order.token, current=True)
        current = change(follow.next_event(), "orderStatusChanged")
        assert current == (order.number, "PENDING_PAYMENT", None)

        order_services.order_transition(order_id=order.pk, to_status="PAID")

        paid = change(follow.next_event(timeout=10), "orderStatusChanged")
        assert paid == (order.number, "PAID", "PENDING_PAYMENT")
        assert follow.quiet(QUIET) == []
        follow.stop()
        assert [m["type"] for m in follow.until_end(timeout=5)] == ["complete"]


# ---------------------------------------------------------------- who may follow


def test_unauthorized_subscriptions_are_refused_and_never_get_an_event(
    server, staff_user
):
    buyer, stranger = UserFactory(), UserFactory()
    order = user_order(buyer)
    clerk = UserFactory(is_staff=True)  # staff without orders.view_order
    with (
        Connection.connect(server.ws, get_token(buyer)) as owner,
        Connection.connect(server.ws, get_token(stranger)) as other,
        Connection.connect(server.ws, get_token(clerk)) as staff,
        Connection.connect(server.ws) as anonymous,
    ):
        follow = owner.subscribe(
            ORDER_STATUS_CHANGED, id=global_id(order), current=True
        )
        assert change(follow.next_event(), "orderStatusChanged")[1] == "PENDING_PAYMENT"
        refused = {
            "stranger by id": (
                other.subscribe(ORDER_STATUS_CHANGED, id=global_id(order)),
                "NOT_FOUND",
            ),
            "stranger, unknown token": (
                other.subscribe(ORDER_STATUS_CHANGED, token="not-the-token"),
                "NOT_FOUND",
            ),
            "staff without orders.view_order": (
                staff.subscribe(ORDER_STATUS_CHANGED, id=global_id(order)),
                "NOT_FOUND",
            ),
            "anonymous by id": (
                anonymous.subscribe(ORDER_STATUS_CHANGED, id=global_id(order)),
                "UNAUTHENTICATED",
            ),
            "anonymous, unknown token": (
                anonymous.subscribe(ORDER_STATUS_CHANGED, token="not-the-token"),
                "NOT_FOUND",
            ),
            "anonymous myOrderEvents": (
                anonymous.subscribe(MY_ORDER_EVENTS),
                "UNAUTHENTICATED",
            ),
        }
        codes = {name: refusal_codes(op) for name, (op, _) in refused.items()}
        assert codes == {name: [code] for name, (_, code) in refused.items()}
        stranger_mine = other.subscribe(MY_ORDER_EVENTS)  # allowed: their own
        wait_for_group(f"user.{stranger.pk}.orders")

        order_services.order_transition(order_id=order.pk, to_status="PAID")

        assert change(follow.next_event(timeout=10), "orderStatusChanged")[1] == "PAID"
        assert stranger_mine.quiet(QUIET) == []
        for operation, _ in refused.values():
            assert operation.quiet(0) == []
        assert [c.aio.unexpected for c in (owner, other, staff, anonymous)] == [[]] * 4
        assert not any(c.is_closed for c in (owner, other, staff, anonymous))


def test_bad_tokens_are_refused_with_4403(server):
    buyer = UserFactory()
    expired = jwt_payload(buyer)
    expired["exp"] = int(time.time()) - 60
    for payload in (
        {"authorization": "Bearer not-a-token"},
        {"authorization": f"Bearer {jwt_encode(expired)}"},
        {"authorization": f"Token {get_token(buyer)}"},
        {"authorization": 12},
    ):
        with pytest.raises(Closed) as closed:
            Connection.connect(server.ws, payload=payload)
        assert closed.value.code == 4403, payload


# ---------------------------------------------------------------- the socket


def test_an_idle_socket_stays_open(server):
    """Regression: redis-py 8 timed out the channel layer's 5 s blocking read and
    the server dropped every idle socket (1006) after about 5 s."""
    buyer = UserFactory()
    order = user_order(buyer)
    with (
        Connection.connect(server.ws, get_token(buyer)) as quiet,
        Connection.connect(server.ws, get_token(buyer)) as waiting,
    ):
        mine = waiting.subscribe(MY_ORDER_EVENTS)

        time.sleep(12)  # no message either way

        quiet.ping()  # a protocol ping: the socket still answers
        assert (quiet.is_closed, waiting.is_closed) == (False, False)
        assert mine.received == []
        answer = quiet.execute(ME)
        assert answer["data"] == {"me": {"email": buyer.email}}
        wait_for_group(f"user.{buyer.pk}.orders")
        order_services.order_transition(order_id=order.pk, to_status="PAID")
        paid = change(mine.next_event(timeout=10), "myOrderEvents")
        assert paid == (order.number, "PAID", "PENDING_PAYMENT")


def test_queries_and_mutations_over_the_socket_answer_as_over_http(server):
    buyer = UserFactory()
    token = get_token(buyer)
    bad_line = {"lines": [{"variantId": "bm90LWFuLWlk", "quantity": 1}]}
    add = (
        "mutation($lines: [CartLineInput!]!) { cartLinesAdd(lines: $lines) { "
        "cart { totalQuantity } errors { field code message } } }"
    )
    sign_in = (
        "mutation($email: String!, $password: String!) { "
        "tokenAuth(email: $email, password: $password) { token errors { code } } }"
    )
    cancel = "mutation($id: ID!) { orderCancel(id: $id) { errors { code } } }"
    with (
        Connection.connect(server.ws, token) as signed_in,
        Connection.connect(server.ws) as anonymous,
    ):
        assert signed_in.execute(ME) == {"data": {"me": {"email": buyer.email}}}
        assert anonymous.execute(ME) == {"data": {"me": None}}

        over_socket = signed_in.execute(add, **bad_line)
        assert over_socket == http_graphql(server.base, add, token, **bad_line)
        errors = over_socket["data"]["cartLinesAdd"]["errors"]
        assert [(e["field"], e["code"]) for e in errors] == [
            ("lines.0.variantId", "INVALID")
        ]
        assert signed_in.execute(CART) == {"data": {"cart": CART_EMPTY}}

        # a top-level auth error: the same code and message as over HTTP
        refused = anonymous.execute(cancel, id=relay.to_base64("Order", 1))
        assert refused["data"] is None
        assert [e["extensions"]["code"] for e in refused["errors"]] == [
            "UNAUTHENTICATED"
        ]
        assert without_request_ids(refused) == without_request_ids(
            http_graphql(server.base, cancel, id=relay.to_base64("Order", 1))
        )

        signed = anonymous.execute(sign_in, email=buyer.email, password=PASSWORD)
        assert signed["data"]["tokenAuth"]["errors"] == []
    # the token it answered signs a new socket in
    with Connection.connect(server.ws, signed["data"]["tokenAuth"]["token"]) as again:
        assert again.execute(ME) == {"data": {"me": {"email": buyer.email}}}


def test_a_deactivated_users_socket_loses_its_rights(server):
    """Deactivated in another process (here the test's, as the admin does: saved,
    not update()d): a socket that sends nothing is closed all the same, and a
    query sent right after never answers with the user's data."""
    buyer = UserFactory()
    token = get_token(buyer)
    with (
        Connection.connect(server.ws, token) as watching,
        Connection.connect(server.ws, token) as asking,
    ):
        mine = watching.subscribe(MY_ORDER_EVENTS)
        wait_for_group(f"user.{buyer.pk}.orders")
        assert asking.execute(ME) == {"data": {"me": {"email": buyer.email}}}

        buyer.is_active = False
        buyer.save()
        try:
            after = asking.subscribe(ME)
        except Closed:
            after = None  # closed already

        assert watching.wait_closed(timeout=5) == (4403, "The account is disabled.")
        assert asking.wait_closed(timeout=5) == (4403, "The account is disabled.")
        if after is not None:  # refused before the close, or not answered at all
            for message in after.received:
                data = (message.get("payload") or {}).get("data")
                assert data in (None, {"me": None}), message
        assert [m for m in mine.received if m["type"] == "next"] == []
    with pytest.raises(Closed) as closed:
        Connection.connect(server.ws, token)
    assert closed.value.code == 4403


def test_an_expired_access_token_closes_the_socket(server):
    """The client renews by reconnecting with a fresh access token."""
    buyer = UserFactory()
    payload = jwt_payload(buyer)
    payload["exp"] = int(time.time()) + 3
    started = time.monotonic()
    with Connection.connect(server.ws, jwt_encode(payload)) as socket:
        mine = socket.subscribe(MY_ORDER_EVENTS)
        assert socket.execute(ME) == {"data": {"me": {"email": buyer.email}}}

        code, reason = socket.wait_closed(timeout=8)

        assert code == 4403
        assert reason.startswith("The access token has expired: refresh it"), reason
        assert time.monotonic() - started > 1.5  # not before its time
        assert [m for m in mine.received if m["type"] == "next"] == []
    with Connection.connect(server.ws, get_token(buyer)) as renewed:
        assert renewed.execute(ME) == {"data": {"me": {"email": buyer.email}}}


def test_closed_sockets_leave_nothing_behind(environment, tmp_path):
    """Sockets by the hundred, refused, closed by the client and closed with a
    subscription running: once they are gone the server has no task left, so it
    stops at once on SIGTERM (uvicorn waits for every connection's task; so does a
    gunicorn worker's graceful restart)."""
    buyer = UserFactory()
    token = get_token(buyer)

    async def open_and_close(url: str, kind: int) -> None:
        if kind == 0:
            with contextlib.suppress(Closed):
                await AsyncConnection.connect(url, "not-a-token")
            return
        async with await AsyncConnection.connect(url, token) as connection:
            if kind == 2:
                await connection.subscribe(MY_ORDER_EVENTS)
                await asyncio.sleep(0.05)

    async def crowd(url: str) -> None:
        for _batch in range(40):
            await asyncio.gather(*(open_and_close(url, n % 3) for n in range(10)))

    try:
        with uvicorn(environment, tmp_path / "web.log") as base:
            run(crowd(ws_url(base)), timeout=120)
            stopping = time.monotonic()
    except subprocess.TimeoutExpired:
        pytest.fail("the server did not stop within 20 s of SIGTERM")
    assert time.monotonic() - stopping < 5
