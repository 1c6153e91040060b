"""One log line per HTTP request, and the request id that ties lines together."""

import json
import os
import re
import subprocess
import sys

import pytest
from django.test import Client

from tests.factories import UserFactory
from tests.shop.test_settings import ROOT, STRIPE


def test_a_graphql_request_is_one_json_line(gql, log_output):
    user = UserFactory(email="ada@example.com")
    gql.login(user)

    response = gql.http.post(
        "/graphql/",
        {"query": "query Whoami { me { email } }", "operationName": "Whoami"},
        content_type="application/json",
        **gql.headers,
    )

    assert response.status_code == 200
    line = log_output.request_line()
    assert line["level"] == "INFO"
    assert line["request_id"] == response["X-Request-ID"]
    assert line["method"] == "POST"
    assert line["path"] == "/graphql/"
    assert line["operation"] == "Whoami"
    assert line["status"] == 200
    assert isinstance(line["duration_ms"], int | float)
    assert line["duration_ms"] >= 0
    assert line["user_id"] == user.pk
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d.*", line["time"])
    assert "errors" not in line or line["errors"] is None


def test_the_line_names_the_top_level_error_codes(gql, log_output):
    gql("{ products(first: 101) { totalCount } }")
    line = log_output.request_line()
    assert line["errors"] == ["INVALID"]
    assert line["user_id"] is None
    assert line["operation"] is None


def test_the_query_string_of_a_get_request_is_not_logged(gql, log_output):
    response = gql.http.get(
        "/graphql/",
        {"query": '{ cart(token: "not-a-secret-but-private") { token } }'},
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 200
    assert log_output.request_line()["path"] == "/graphql/"
    assert "not-a-secret-but-private" not in log_output.text


@pytest.mark.parametrize(
    "sent",
    ["5f0c3a9e-3c1b-4a8e-9a57-0d1f3b1c2a77", "lb-01HZX3", "abc.def:42_x"],
)
def test_a_sane_request_id_is_honoured(db, log_output, sent):
    response = Client().get("/healthz/", HTTP_X_REQUEST_ID=sent)
    assert response["X-Request-ID"] == sent
    assert log_output.request_line()["request_id"] == sent


@pytest.mark.parametrize(
    "sent",
    [
        "",
        "x" * 129,
        "has space",
        "new\nline",
        "<script>",
        "-leading-dash",
        # An access token sent as a request id must not be logged.
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
    ],
)
def test_an_insane_request_id_is_replaced(db, log_output, sent):
    response = Client().get("/healthz/", HTTP_X_REQUEST_ID=sent)
    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])
    assert log_output.request_line()["request_id"] == response["X-Request-ID"]


def test_every_response_gets_a_request_id(db, log_output):
    client = Client()
    for path in ("/healthz/", "/nope/", "/graphql/"):
        assert re.fullmatch(r"[0-9a-f]{32}", client.get(path)["X-Request-ID"])
    ids = [line["request_id"] for line in log_output.lines("shop.request")]
    assert [line["status"] for line in log_output.lines("shop.request")] == [
        200,
        404,
        400,
    ]
    assert len(set(ids)) == 3


def test_the_webhook_is_logged_and_its_lines_carry_the_request_id(db, log_output):
    response = Client().post(
        "/webhooks/stripe/",
        json.dumps({"id": "evt_1", "type": "checkout.session.completed"}),
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE="t=1,v1=deadbeef",
    )

    assert response.status_code == 400
    request_id = response["X-Request-ID"]
    [refused] = log_output.lines("shop.payments.views")
    assert refused["request_id"] == request_id
    line = log_output.request_line()
    assert (line["method"], line["path"], line["status"]) == (
        "POST",
        "/webhooks/stripe/",
        400,
    )
    assert line["request_id"] == request_id
    assert "deadbeef" not in log_output.text


def test_admin_requests_are_logged_with_the_staff_user(
    admin_client, superuser, log_output
):
    response = admin_client.get("/admin/")
    assert response.status_code == 200
    line = log_output.request_line()
    assert (line["path"], line["status"], line["user_id"]) == (
        "/admin/",
        200,
        superuser.pk,
    )


def test_a_bad_host_header_is_one_warning_without_traceback(db, log_output):
    response = Client().get("/healthz/", HTTP_HOST="evil.example")
    assert response.status_code == 400
    [security] = [
        line
        for line in log_output.lines()
        if line["logger"].startswith("django.security")
    ]
    assert security["level"] == "WARNING"
    assert "exc_info" not in security
    assert security["request_id"] == response["X-Request-ID"]


def production_settings() -> dict[str, str]:
    """The variables a production process (DJANGO_DEBUG unset) needs."""
    return {
        "DATABASE_URL": "postgres://shop@db:5432/shop",
        "DJANGO_SECRET_KEY": "k" * 50,
        **STRIPE,
    }


def run_with_settings(code: str, **env: str) -> subprocess.CompletedProcess:
    """``code`` after django.setup() in a fresh process with these variables."""
    clean = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(
            ("DJANGO_", "DATABASE_", "REDIS_", "CELERY_", "STRIPE_", "GRAPHQL_")
        )
    }
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "shop.settings", **env},
        capture_output=True,
        text=True,
        check=False,
    )


def settings_values(code: str, **env: str) -> list[str]:
    """What ``code`` prints, split."""
    result = run_with_settings(code, **env)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_production_logs_json_and_development_text(tmp_path):
    probe = (
        "from django.conf import settings as s; "
        "print(s.LOG_FORMAT, s.LOGGING['handlers']['console']['formatter'])"
    )
    production = production_settings()
    assert settings_values(probe, **production) == ["json", "json"]
    development = {"SQLITE_PATH": str(tmp_path / "db.sqlite3")}
    assert settings_values(probe, **development) == ["text", "text"]
    assert settings_values(probe, DJANGO_LOG_FORMAT="text", **production) == [
        "text",
        "text",
    ]
    refused = run_with_settings(probe, DJANGO_LOG_FORMAT="xml", **production)
    assert refused.returncode != 0
    assert "DJANGO_LOG_FORMAT must be json or text" in refused.stderr


def test_development_lines_are_readable_text(tmp_path):
    code = (
        "import logging; from shop.core.logs import *; "
        "t = enter_scope(LogScope(request_id='r-1')); "
        "logging.getLogger('shop.demo').warning('hello %s', 'there')"
    )
    result = run_with_settings(code, SQLITE_PATH=str(tmp_path / "db.sqlite3"))
    assert result.returncode == 0, result.stderr
    assert result.stderr.rstrip().endswith("WARNING shop.demo [r-1] hello there")
