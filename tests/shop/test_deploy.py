"""Production settings: Django's deploy checks pass, HTTPS is enforced (behind a
proxy too), the admin keeps CSRF, and the channel layer spreads over Redis hosts."""

import json
import os
import subprocess
import sys
import uuid

import pytest
from asgiref.sync import async_to_sync
from django.test import Client, override_settings

from shop.core.channel_layers import ShopRedisChannelLayer
from tests.shop.test_settings import ROOT, STRIPE

PRODUCTION = {
    "DATABASE_URL": "postgres://shop@db.internal:5432/shop",
    "REDIS_URL": "redis://cache.internal:6379/0",
    "DJANGO_SECRET_KEY": "production-secret-" + "k" * 40,
    "DJANGO_ALLOWED_HOSTS": "api.shop.example",
    "DJANGO_SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto",
    **STRIPE,
}


def clean_env(**env: str) -> dict:
    kept = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(
            ("DJANGO_", "DATABASE_", "REDIS_", "CELERY_", "STRIPE_", "CHANNEL_")
        )
    }
    return {**kept, "DJANGO_SETTINGS_MODULE": "shop.settings", **env}


def deploy_check(**env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "manage.py",
            "check",
            "--deploy",
            "--fail-level",
            "WARNING",
        ],
        cwd=ROOT,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        check=False,
    )


def production_settings(**env: str) -> dict:
    script = (
        "import django, json; django.setup(); from django.conf import settings as s; "
        "print(json.dumps({name: getattr(s, name, None) for name in ("
        "'SECURE_PROXY_SSL_HEADER', 'SECURE_SSL_REDIRECT', 'SECURE_HSTS_SECONDS', "
        "'SESSION_COOKIE_SECURE', 'CSRF_COOKIE_SECURE')} | "
        "{'hosts': [h['address'] for h in s.CHANNEL_LAYERS['default']['CONFIG']"
        "['hosts']]}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_deploy_checks_pass_with_the_production_environment():
    result = deploy_check(**PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    ("variable", "value", "warning"),
    [
        ("DJANGO_SECURE_SSL_REDIRECT", "false", "security.W008"),
        ("DJANGO_SECURE_HSTS_SECONDS", "0", "security.W004"),
        ("DJANGO_SECURE_COOKIES", "false", "security.W012"),
    ],
)
def test_turning_protection_off_is_reported(variable, value, warning):
    result = deploy_check(**PRODUCTION, **{variable: value})
    assert result.returncode != 0
    assert warning in result.stderr


def test_production_defaults():
    settings = production_settings(**PRODUCTION)
    assert settings["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert settings["SECURE_SSL_REDIRECT"] is True
    assert settings["SECURE_HSTS_SECONDS"] == 31_536_000
    assert settings["SESSION_COOKIE_SECURE"] is settings["CSRF_COOKIE_SECURE"] is True
    assert settings["hosts"] == ["redis://cache.internal:6379/0"]
    # without the variable no proxy header is trusted
    unset = {k: v for k, v in PRODUCTION.items() if "PROXY" not in k}
    assert production_settings(**unset)["SECURE_PROXY_SSL_HEADER"] is None


def test_the_channel_layer_lists_every_redis_host():
    urls = "redis://channels-a:6379/0,redis://channels-b:6379/0"
    settings = production_settings(**PRODUCTION, CHANNEL_REDIS_URLS=urls)
    assert settings["hosts"] == urls.split(",")


@pytest.fixture
def https_only(db):
    with override_settings(
        SECURE_SSL_REDIRECT=True,
        SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https"),
        SECURE_HSTS_SECONDS=31_536_000,
    ):
        yield Client()


def test_plain_http_is_redirected_to_https(https_only):
    response = https_only.post(
        "/graphql/", {"query": "{ __typename }"}, content_type="application/json"
    )
    assert response.status_code == 301
    assert response["Location"] == "https://testserver/graphql/"


def test_https_through_the_proxy_is_served_with_hsts(https_only):
    response = https_only.post(
        "/graphql/",
        {"query": "{ __typename }"},
        content_type="application/json",
        headers={"X-Forwarded-Proto": "https"},
    )
    assert response.status_code == 200
    assert response.json() == {"data": {"__typename": "Query"}}
    assert response["Strict-Transport-Security"].startswith("max-age=31536000")


def test_probes_answer_over_plain_http(https_only):
    assert https_only.get("/healthz/").status_code == 200


def test_the_admin_keeps_csrf(superuser):
    browser = Client(enforce_csrf_checks=True)
    response = browser.post(
        "/admin/login/", {"username": superuser.email, "password": "whatever"}
    )
    assert response.status_code == 403
    page = browser.get("/admin/login/")
    assert 'name="csrfmiddlewaretoken"' in page.content.decode()


def test_the_channel_layer_shards_over_two_redis_servers(settings):
    """Two layers with the same two hosts (two processes): a group joined through
    one gets a message sent through the other, and channels land on both hosts."""
    base = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    server = base.rsplit("/", 1)[0]
    hosts = [{"address": f"{server}/7"}, {"address": f"{server}/8"}]
    prefix = f"shard-{uuid.uuid4().hex[:8]}"

    async def exchange() -> tuple[list, set[int]]:
        sender = ShopRedisChannelLayer(hosts=hosts, prefix=prefix)
        receiver = ShopRedisChannelLayer(hosts=hosts, prefix=prefix)
        channels = [await receiver.new_channel() for _ in range(8)]
        for number, channel in enumerate(channels):
            await receiver.group_add(f"order-{number}", channel)
        for number in range(8):
            await sender.group_send(
                f"order-{number}", {"type": "order.status", "n": number}
            )
        received = [await receiver.receive(channel) for channel in channels]
        used = {receiver.consistent_hash(channel) for channel in channels}
        await sender.flush()
        await receiver.close_pools()
        await sender.close_pools()
        return received, used

    received, used = async_to_sync(exchange)()
    assert [message["n"] for message in received] == list(range(8))
    assert used == {0, 1}
