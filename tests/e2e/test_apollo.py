"""The README's Apollo Client set-up, run for real: tests/e2e/apollo/journey.mjs
drives tests/e2e/apollo/client.mjs (the real @apollo/client and graphql-ws
packages, pinned in its package-lock.json) through a storefront's journey against
a uvicorn process on the test database and Redis.

The journey prints one JSON object per step. When it says it is subscribed to its
order, this process marks the order paid, as the admin or the Stripe webhook
would; the PAID event must reach the Node client over its GraphQLWsLink.
"""

import json
import os
import queue
import re
import subprocess
import threading
import time
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from strawberry.relay import GlobalID

from shop.accounts.models import User
from shop.catalog.models import ProductVariant
from shop.discounts.models import Voucher, VoucherKind
from shop.orders.models import Order
from shop.orders.services import order_transition
from shop.shipping.models import ShippingMethod, ShippingZone
from shop.taxes.models import TaxRate, tax_class
from tests.e2e.servers import server_database_url, uvicorn
from tests.factories import make_product

ROOT = Path(__file__).resolve().parents[2]
APOLLO = ROOT / "tests" / "e2e" / "apollo"
# Name order is listing order; prices make the cart's subtotal exact.
CATALOG = [
    ("Ada Lamp", "10.00"),
    ("Bold Mug", "4.50"),
    ("Calm Tea", "3.00"),
    ("Deft Pen", "2.00"),
    ("Easy Chair", "80.00"),
]
JOURNEY_SECONDS = 60


@pytest.fixture
def server(django_db_setup, tmp_path):
    """uvicorn on the test database (it sees what the test commits)."""
    env = {
        **os.environ,
        "DATABASE_URL": server_database_url(),
        "DJANGO_DEBUG": "false",
        "DJANGO_LOG_LEVEL": "WARNING",
    }
    with uvicorn(env, tmp_path / "server.log") as base:
        yield base


def steps_of(journey: subprocess.Popen, on_step) -> dict[str, dict]:
    """Each JSON line the journey prints, by step, in order; ``on_step`` is
    called with each one as it arrives. Gives up after JOURNEY_SECONDS."""
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        for line in journey.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    steps: dict[str, dict] = {}
    deadline = time.monotonic() + JOURNEY_SECONDS
    while (line := lines.get(timeout=max(deadline - time.monotonic(), 0))) is not None:
        step = json.loads(line)
        steps[step.pop("step")] = step
        on_step(steps)
    return steps


@pytest.mark.django_db(transaction=True)
def test_the_readme_apollo_client_runs_a_storefront_journey(node, server, tmp_path):
    products = [
        make_product(name=name, variants=[{"price": price, "quantity_available": 10}])
        for name, price in CATALOG
    ]
    uk = ShippingZone.objects.create(name="UK", countries=["GB"])
    standard = ShippingMethod.objects.create(zone=uk, name="Standard", price="4.99")
    ShippingMethod.objects.create(zone=uk, name="Express", price="9.99")
    TaxRate.objects.create(country="GB", tax_class=tax_class("standard"), rate=20)
    Voucher.objects.create(
        code="WELCOME10", kind=VoucherKind.PERCENTAGE, value=10, per_customer_limit=1
    )

    def mark_paid_once_subscribed(steps: dict[str, dict]) -> None:
        if list(steps)[-1] == "subscribed":
            order_id = GlobalID.from_id(steps["subscribed"]["orderId"]).node_id
            order_transition(order_id=int(order_id), to_status="PAID")

    stderr = tmp_path / "journey.stderr"
    with (
        stderr.open("w") as errors,
        subprocess.Popen(
            [node, "journey.mjs", server],
            cwd=APOLLO,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        ) as journey,
    ):
        try:
            steps = steps_of(journey, mark_paid_once_subscribed)
            returncode = journey.wait(timeout=10)
        finally:
            journey.kill()

    assert returncode == 0, (steps, stderr.read_text())
    assert list(steps) == [
        "products",
        "guestCart",
        "signedIn",
        "cart",
        "voucher",
        "shipping",
        "checkout",
        "subscribed",
        "paid",
    ]
    names = [name for name, _ in CATALOG]
    assert steps["products"] == {
        "firstPage": names[:2],
        "secondPage": names[2:4],
        # relayStylePagination merged both pages into one cached list
        "shown": names[:4],
        "cached": names[:4],
        "hasNextPage": True,
        "totalCount": 5,
    }
    assert steps["guestCart"] == {"hasToken": True, "totalQuantity": 1}
    email = steps["signedIn"]["email"]
    assert re.fullmatch(r"apollo-\d+-\d+@example\.com", email)
    # the guest's line joined the user's cart; the stored cart token is gone
    assert steps["cart"] == {
        "mergedQuantity": 1,
        "mergedToken": None,
        "storedCartToken": None,
        "totalQuantity": 3,
        "subtotal": "19.00",
    }
    # the code typed in lower case is kept upper-case with the user's cart
    assert steps["voucher"] == {"voucherCode": "WELCOME10"}
    # the methods to GB, cheapest first, and the estimate with the first: 19.00
    # less 10% (1.90) holds 2.85 of tax at 20%, 4.99 of shipping 0.83
    assert steps["shipping"] == {
        "methods": [["Standard", "4.99"], ["Express", "9.99"]],
        "methodId": str(GlobalID("ShippingMethod", str(standard.pk))),
        "voucherCode": "WELCOME10",
        "subtotal": "19.00",
        "discount": "1.90",
        "shipping": "4.99",
        "tax": "3.68",
        "total": "22.09",
    }
    order = Order.objects.get()
    order_id = GlobalID("Order", str(order.pk))
    assert steps["checkout"] == {
        "orderId": str(order_id),
        "number": order.number,
        "status": "PENDING_PAYMENT",
        "voucherCode": "WELCOME10",
        "discount": "1.90",
        "total": "22.09",  # what the estimate showed
    }
    assert (order.shipping_method_name, order.tax) == ("Standard", Decimal("3.68"))
    # DateTime arrives as an ISO 8601 string, as Decimal does (amounts above)
    for step in ("subscribed", "paid"):
        assert datetime.fromisoformat(steps[step].pop("at")).tzinfo is not None
    assert steps["subscribed"] == {
        "orderId": str(order_id),
        "number": order.number,
        "status": "PENDING_PAYMENT",
        "previousStatus": None,
    }
    assert steps["paid"] == {
        "orderId": str(order_id),
        "number": order.number,
        "status": "PAID",
        "previousStatus": "PENDING_PAYMENT",
    }
    assert (order.status, order.email, order.user) == (
        "PAID",
        email,
        User.objects.get(email=email),
    )
    stock = dict(
        ProductVariant.objects.filter(product__in=products).values_list(
            "product__name", "quantity_available"
        )
    )
    assert stock == {
        "Ada Lamp": 9,
        "Bold Mug": 8,
        "Calm Tea": 10,
        "Deft Pen": 10,
        "Easy Chair": 10,
    }


def test_the_readme_shows_the_tested_client():
    """The README's quick start shows client.mjs as it is, byte for byte."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Apollo Client quick start", 1)
    assert len(section) == 2, "README.md has no 'Apollo Client quick start' section"
    shown = re.search(r"^```js\n(.*?)^```$", section[1], re.DOTALL | re.MULTILINE)
    assert shown, "the section has no ```js block"
    assert shown.group(1) == (APOLLO / "client.mjs").read_text()


def test_the_readme_installs_the_versions_the_suite_pins():
    """The quick start's npm line names exactly tests/e2e/apollo's packages."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Apollo Client quick start", 1)[1]
    line = re.search(r"^npm install (.+)$", section, re.MULTILINE)
    assert line, "the quick start has no npm install line"
    pinned = json.loads((APOLLO / "package.json").read_text())["dependencies"]
    pinned.pop("graphql-http")  # the suite's GraphQL-over-HTTP audit, not the app's
    assert line.group(1).split() == [f"{name}@{v}" for name, v in pinned.items()]
