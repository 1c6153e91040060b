"""Error reporting with SENTRY_DSN set: unexpected exceptions (GraphQL, Celery)
reach Sentry, business errors never do.

A local HTTP server stands in for Sentry's ingest endpoint (the network boundary);
the shop runs in a subprocess, so sentry_sdk.init never touches the test process.
"""

import gzip
import json
import os
import subprocess
import sys
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.e2e.servers import ROOT, server_database_url

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "hunter2-do-not-send"


class FakeSentry:
    """Records the envelopes POSTed to /api/<project>/envelope/."""

    def __init__(self) -> None:
        envelopes = self.envelopes = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                encoding = self.headers.get("Content-Encoding")
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                envelopes.append((self.path, body.decode()))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.dsn = f"http://public@127.0.0.1:{self.server.server_port}/1"

    def events(self) -> list[dict]:
        """The error events received (not sessions or client reports)."""
        found = []
        for _, envelope in self.envelopes:
            lines = envelope.split("\n")
            for header, payload in zip(lines[1::2], lines[2::2], strict=False):
                if json.loads(header).get("type") == "event":
                    found.append(json.loads(payload))
        return found

    def text(self) -> str:
        return "\n".join(body for _, body in self.envelopes)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sentry():
    fake = FakeSentry()
    yield fake
    fake.close()


PRELUDE = """
import json, django, sentry_sdk
django.setup()
from django.test import Client
client = Client()
def graphql(query, **variables):
    response = client.post("/graphql/", json.dumps(
        {"query": query, "variables": variables}), content_type="application/json")
    print(response.status_code, response.json())
    return response
"""


def run_shop(sentry: FakeSentry, script: str) -> str:
    """Run ``script`` with the shop's settings and SENTRY_DSN set, then flush."""
    env = os.environ | {
        "DJANGO_SETTINGS_MODULE": "shop.settings",
        "DATABASE_URL": server_database_url(),
        "DJANGO_ALLOWED_HOSTS": "testserver",
        "SENTRY_DSN": sentry.dsn,
        "SENTRY_ENVIRONMENT": "test-suite",
        "SENTRY_RELEASE": "shop@1.2.3",
        "CELERY_TASK_ALWAYS_EAGER": "true",
    }
    code = PRELUDE + script + "\nsentry_sdk.flush(timeout=10)\n"
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def exception_types(event: dict) -> list[str]:
    return [value["type"] for value in event.get("exception", {}).get("values", [])]


def test_an_unexpected_graphql_error_is_reported_once(sentry):
    output = run_shop(
        sentry,
        """
from shop.catalog import selectors
def broken():
    raise RuntimeError("attribute table exploded")
selectors.attribute_list = broken
response = graphql("query Facets { attributes { slug } }", password=@SECRET@)
print("request id", response["X-Request-ID"])
""".replace("@SECRET@", repr(SECRET)),
    )

    assert "INTERNAL_SERVER_ERROR" in output
    [event] = sentry.events()
    assert exception_types(event) == ["RuntimeError"]
    assert event["exception"]["values"][0]["value"] == "attribute table exploded"
    assert event["environment"] == "test-suite"
    assert event["release"] == "shop@1.2.3"
    request_id = output.split("request id ")[1].split()[0]
    assert event["tags"]["request_id"] == request_id
    assert not event.get("request", {}).get("data")  # no request body
    assert SECRET not in sentry.text()


def test_business_and_client_errors_are_not_reported(sentry):
    output = run_shop(
        sentry,
        """
from tests.factories import UserFactory
UserFactory(email="ada@example.com")
graphql('''mutation SignIn($password: String!) { tokenAuth(email: "ada@example.com",
  password: $password) { errors { code } } }''', password=@SECRET@)
graphql('mutation { accountUpdate(firstName: "Ada") { errors { code } } }')
graphql('query { product(id: "not-an-id") { name } }')
graphql("query Broken { attributes { slug ")
graphql("{ nope }")
""".replace("@SECRET@", repr(SECRET)),
    )

    assert "INVALID_CREDENTIALS" in output
    assert "UNAUTHENTICATED" in output
    assert "GRAPHQL_PARSE_FAILED" in output
    assert "GRAPHQL_VALIDATION_FAILED" in output
    assert sentry.events() == []


def test_a_failing_celery_task_is_reported(sentry):
    run_shop(
        sentry,
        """
from shop.payments.models import Payment
from workers.tasks.payments import payment_refund_task
try:
    payment_refund_task.delay(987654)
except Payment.DoesNotExist:
    print("failed as expected")
""",
    )

    events = sentry.events()
    assert [exception_types(event) for event in events] == [["Payment.DoesNotExist"]]
    [event] = events
    assert event["exception"]["values"][0]["mechanism"]["type"] == "celery"
    assert event["tags"]["celery_task_id"]
