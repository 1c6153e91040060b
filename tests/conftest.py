import json
import logging
import os
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection, connections
from django.db.backends.signals import connection_created
from django.test import Client
from django_redis import get_redis_connection
from graphql_jwt.shortcuts import get_token

from tests.factories import UserFactory
from tests.log_helpers import LogOutput, captured_log_output
from tests.stripe_fake import FakeStripe

# Tests that start processes (servers, workers, a PostgreSQL cluster, the
# container's commands, the benchmark): marked ``e2e``, so that a quick local
# loop can leave them out with ``-m "not e2e"``. CI runs everything.
E2E_PATHS = (
    "tests/e2e/",
    "tests/faults/",
    "tests/test_bench.py",
    "tests/test_containers.py",
    "tests/workers/test_order_email_crash.py",
    "tests/workers/test_processes.py",
)


def pytest_collection_modifyitems(config, items):
    for item in items:
        path = item.nodeid.split("::", 1)[0]
        if path.startswith(E2E_PATHS):
            item.add_marker(pytest.mark.e2e)


def pytest_collection_finish(session):
    """Under ``--dist loadgroup`` a test marked ``xdist_group`` has the group in its
    id; when it has not (pytest 9.2 with pytest-xdist 3.8, pytest-xdist#1386), the
    groups are silently lost: say so rather than start module fixtures per worker."""
    if not session.config.getoption("loadgroup", default=False):
        return
    for item in session.items:
        if item.get_closest_marker("xdist_group") and "@" not in item.nodeid:
            pytest.exit(
                f"pytest-xdist lost the xdist_group of {item.nodeid}: "
                "check the pytest and pytest-xdist versions (pytest-xdist#1386).",
                returncode=3,
            )


# No background cache listener (shop.catalog.cache_tags.listen) in the test
# processes nor in the servers they start: it holds a connection to the test
# database of its own and reconnects when it loses it, which could still be open
# when the test databases are dropped. Tests of it start it themselves.
os.environ.setdefault("GRAPHQL_RESPONSE_CACHE_LISTENER", "false")


@pytest.fixture(autouse=True, scope="session")
def _no_cache_listener():
    from django.conf import settings

    settings.GRAPHQL_RESPONSE_CACHE_LISTENER = False


@pytest.fixture(autouse=True)
def _real_services(request):
    """The suite runs on PostgreSQL and Redis (scripts/test sets them up)."""
    if "django_db_setup" in request.fixturenames and connection.vendor != "postgresql":
        pytest.exit("Run the suite with scripts/test: it needs PostgreSQL and Redis.")


# Connections a test's own connection does not account for: those opened in
# asgiref's executor threads and in the contexts of in-process ASGI requests
# (Django keeps a connection per thread and context, and keeps it, CONN_MAX_AGE),
# the threads of races, servers run in a thread. Nothing closed them when a test
# ended, and one left open made dropping the test database fail at the end of
# the run ("being accessed by other users").
_opened: weakref.WeakSet = weakref.WeakSet()


def _remember_connection(sender, connection, **kwargs) -> None:
    _opened.add(connection)


connection_created.connect(_remember_connection)


@pytest.fixture(autouse=True)
def _close_other_connections():
    """Each test closes the connections opened other than the test's own."""
    yield
    own = {id(connections[alias]) for alias in connections}
    for wrapper in list(_opened):
        if id(wrapper) in own or wrapper.connection is None:
            continue
        # Its thread is done with it (or idle in an executor): close it from here.
        wrapper.inc_thread_sharing()
        try:
            wrapper.close()
        finally:
            wrapper.dec_thread_sharing()
    _opened.clear()


@pytest.fixture(autouse=True)
def _empty_redis():
    """Each test starts with an empty Redis database (the test database only)."""
    redis = get_redis_connection("default")
    redis.flushdb()
    yield
    redis.flushdb()


@dataclass
class GraphQLResult:
    status: int
    body: dict[str, Any]

    @property
    def data(self) -> dict[str, Any] | None:
        return self.body.get("data")

    @property
    def errors(self) -> list[dict[str, Any]]:
        return self.body.get("errors") or []

    def error_codes(self) -> list[str | None]:
        return [e.get("extensions", {}).get("code") for e in self.errors]


class GraphQLClient:
    """POSTs documents to /graphql/ as a storefront would."""

    def __init__(self) -> None:
        self.http = Client()
        self.headers: dict[str, str] = {}

    def login(self, user) -> str:
        """Send an access token for ``user`` from now on; returns it."""
        token = get_token(user)
        self.authorize(f"Bearer {token}")
        return token

    def authorize(self, authorization: str | None) -> None:
        """Send this Authorization header (None: none)."""
        self.headers = (
            {} if authorization is None else {"HTTP_AUTHORIZATION": authorization}
        )

    def __call__(self, query: str, variables: dict | None = None) -> GraphQLResult:
        response = self.http.post(
            "/graphql/",
            json.dumps({"query": query, "variables": variables or {}}),
            content_type="application/json",
            **self.headers,
        )
        return GraphQLResult(response.status_code, response.json())

    def ok(self, query: str, variables: dict | None = None) -> dict[str, Any]:
        """The data of a query that must succeed without errors."""
        result = self(query, variables)
        assert result.status == 200, result.body
        assert result.errors == [], result.errors
        return result.data


@pytest.fixture
def gql(db) -> GraphQLClient:
    return GraphQLClient()


STAFF_READS = ("orders.view_order", "accounts.view_user", "catalog.view_product")


@pytest.fixture
def staff_user(db):
    """A member of staff whose group may read orders, users and products."""
    user = UserFactory(email="staff@example.com", is_staff=True)
    readers = Group.objects.create(name="Readers")
    readers.permissions.set(
        Permission.objects.get(
            content_type__app_label=permission.split(".")[0],
            codename=permission.split(".")[1],
        )
        for permission in STAFF_READS
    )
    user.groups.add(readers)
    return user


@pytest.fixture
def superuser(db):
    return UserFactory(email="boss@example.com", is_staff=True, is_superuser=True)


@pytest.fixture
def admin_client(superuser) -> Client:
    """A browser signed in to the admin as ``superuser`` (boss@example.com)."""
    client = Client()
    client.force_login(superuser)
    return client


@pytest.fixture
def stripe_fake(settings):
    """A local Stripe API the shop's client talks to (STRIPE_API_BASE)."""
    fake = FakeStripe()
    settings.STRIPE_API_BASE = fake.base
    yield fake
    fake.close()


@pytest.fixture
def log_output(caplog) -> Iterator[LogOutput]:
    """What settings.LOGGING's handler writes during the test (INFO and up), as
    production's JSON lines."""
    caplog.set_level(logging.INFO)
    with captured_log_output() as output:
        yield output


@pytest.fixture
def media_storage(tmp_path, settings):
    """Product images stored under a temporary folder, served at /media/."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "media"), "base_url": "/media/"},
        },
    }
    return tmp_path / "media"
