"""PostgreSQL restarted under a running server: the next request succeeds.

A private PostgreSQL cluster (never the shared one), migrated and seeded, serves a
real uvicorn process; ``pg_ctl restart -m fast`` cuts every connection the server
holds. The first request after each restart, a catalog query and then a checkout,
must succeed.

With the connection pool (the default) this rests on CONN_HEALTH_CHECKS: the pool
checks a connection before lending it (without the check, the first request after
a restart answers INTERNAL_SERVER_ERROR). With the pool off (DB_POOL_MAX_SIZE=0)
under ASGI, each request's thread opens its own connection, so no stale one is
reused; the case stays here so that mode keeps working too."""

import os

import pytest

from tests.e2e.servers import Storefront, uvicorn
from tests.faults.services import PrivatePostgres, manage, postgres_bin

# One worker runs the module, so the private cluster is made once.
pytestmark = pytest.mark.xdist_group("postgres_restart")

SEED = """
from tests.factories import make_product
make_product(name="Desk Lamp", slug="desk-lamp",
             variants=[{"sku": "LAMP", "price": "19.99", "quantity_available": 50}])
"""

LISTING = """{ products(first: 5) { totalCount
  edges { node { name variants { id sku quantityAvailable } } } } }"""

ADD = """mutation($token: String, $lines: [CartLineInput!]!) {
  cartLinesAdd(token: $token, lines: $lines) {
    cart { token totalQuantity } errors { code } } }"""

CHECKOUT = """mutation($input: CheckoutInput!) { checkout(input: $input) {
  order { number status total { amount } } errors { code field } } }"""

ADDRESS = {
    "name": "Ada",
    "line1": "1 Main St",
    "city": "Paris",
    "postalCode": "75001",
    "country": "FR",
}


@pytest.fixture(scope="module")
def cluster():
    """A private cluster with the shop's database migrated and seeded."""
    binaries = postgres_bin()
    if binaries is None:
        pytest.skip("PostgreSQL's server programs (initdb, pg_ctl) are not installed")
    postgres = PrivatePostgres(binaries)
    try:
        postgres.start()
        postgres.create_database("shop")
        env = {**os.environ, "DATABASE_URL": postgres.url("shop")}
        manage(env, "migrate", "--no-input")
        manage(env, "shell", "-c", SEED)
        yield postgres
    finally:
        postgres.remove()


@pytest.mark.parametrize(
    "pool_size", ["8", "0"], ids=["pooled", "persistent-connections"]
)
def test_the_first_requests_after_a_restart_succeed(cluster, tmp_path, pool_size):
    env = {
        **os.environ,
        "DATABASE_URL": cluster.url("shop"),
        "DB_POOL_MAX_SIZE": pool_size,
        "DJANGO_DEBUG": "false",
        "DJANGO_LOG_LEVEL": "WARNING",
    }
    with uvicorn(env, tmp_path / "server.log") as base:
        shop = Storefront(base)
        listing = shop(LISTING)
        [lamp] = listing["products"]["edges"][0]["node"]["variants"]
        cart = shop(ADD, lines=[{"variantId": lamp["id"], "quantity": 2}])
        token = cart["cartLinesAdd"]["cart"]["token"]

        cluster.restart()
        assert shop(LISTING) == listing  # the first request after the restart

        cluster.restart()
        checkout = shop(  # the first request after the next restart
            CHECKOUT,
            input={"cartToken": token, "email": "ada@example.com",
                   "shippingAddress": ADDRESS},
        )["checkout"]  # fmt: skip
        assert checkout["errors"] == []
        assert checkout["order"]["status"] == "PENDING_PAYMENT"
        assert checkout["order"]["total"] == {"amount": "39.98"}
        assert shop(LISTING)["products"]["edges"][0]["node"]["variants"] == [
            {**lamp, "quantityAvailable": lamp["quantityAvailable"] - 2}
        ]
