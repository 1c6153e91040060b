"""/healthz/ and /readyz/."""

import pytest
from django.db import OperationalError

pytestmark = pytest.mark.django_db


def test_healthz(client):
    response = client.get("/healthz/")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_when_everything_answers(client):
    response = client.get("/readyz/")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "redis": "ok"},
        "failing": [],
    }


def test_readyz_names_redis_when_it_does_not_answer(client, settings):
    settings.CACHES = {
        "default": {
            **settings.CACHES["default"],
            # nothing listens on port 1
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    }
    response = client.get("/readyz/")
    assert response.status_code == 503
    assert response.json()["failing"] == ["redis"]
    assert response.json()["checks"] == {"database": "ok", "redis": "down"}


def test_readyz_names_the_database_when_it_does_not_answer(client, monkeypatch):
    from django.db import connection

    def refuse(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(connection, "cursor", refuse)
    response = client.get("/readyz/")
    assert response.status_code == 503
    assert response.json()["failing"] == ["database"]


def test_cors_lets_listed_storefront_origins_call_graphql(client, settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://shop.example.com"]
    allowed = client.options(
        "/graphql/",
        HTTP_ORIGIN="https://shop.example.com",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, content-type",
    )
    assert allowed["access-control-allow-origin"] == "https://shop.example.com"
    assert "authorization" in allowed["access-control-allow-headers"]
    refused = client.options(
        "/graphql/",
        HTTP_ORIGIN="https://evil.example.net",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
    )
    assert "access-control-allow-origin" not in refused
