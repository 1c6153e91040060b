"""Configuration comes from the environment; production refuses unsafe settings."""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STRIPE = {
    "STRIPE_SECRET_KEY": "sk_test_settings",
    "STRIPE_WEBHOOK_SECRET": "whsec_settings",
}


def load_settings(**env: str) -> subprocess.CompletedProcess:
    """Import the settings in a fresh process with exactly these variables."""
    clean = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(
            ("DJANGO_", "DATABASE_", "REDIS_", "CELERY_", "STRIPE_", "EMAIL_")
        )
    }
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings as s; "
            "print(s.DEBUG, s.DATABASES['default']['ENGINE'], "
            "s.CACHES['default']['LOCATION'], s.CELERY_BROKER_URL, "
            "s.CELERY_TASK_ALWAYS_EAGER, s.CHANNEL_LAYERS['default']['BACKEND'])",
        ],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "shop.settings", **env},
        capture_output=True,
        text=True,
        check=False,
    )


def test_embedded_mode_needs_no_service(tmp_path):
    result = load_settings(SQLITE_PATH=str(tmp_path / "db.sqlite3"))
    assert result.returncode == 0, result.stderr
    debug, engine, redis, broker, eager, layer = result.stdout.split()
    assert debug == "True"
    assert engine == "django.db.backends.sqlite3"
    assert broker == "memory://localhost/"
    assert eager == "True"
    assert layer == "channels.layers.InMemoryChannelLayer"


def test_services_mode_from_the_environment():
    result = load_settings(
        DATABASE_URL="postgres://shop@db.internal:5432/shop",
        REDIS_URL="redis://cache.internal:6379/2",
        DJANGO_SECRET_KEY="k" * 50,
        EMAIL_URL="smtp+tls://shop:pw@smtp.internal:587",
        **STRIPE,
    )
    assert result.returncode == 0, result.stderr
    debug, engine, redis, broker, eager, layer = result.stdout.split()
    assert debug == "False"
    assert engine == "django.db.backends.postgresql"
    assert redis == broker == "redis://cache.internal:6379/2"
    assert eager == "False"
    assert layer == "shop.core.channel_layers.ShopRedisChannelLayer"


def test_celery_broker_can_differ_from_redis():
    result = load_settings(
        REDIS_URL="redis://cache.internal:6379/2",
        CELERY_BROKER_URL="amqp://guest@mq.internal//",
        DJANGO_SECRET_KEY="k" * 50,
        **STRIPE,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[3] == "amqp://guest@mq.internal//"


def test_production_refuses_to_start_without_a_real_secret_key():
    for key in (None, "short"):
        env = {"DJANGO_DEBUG": "false"}
        if key:
            env["DJANGO_SECRET_KEY"] = key
        result = load_settings(**env)
        assert result.returncode != 0
        assert "DJANGO_SECRET_KEY" in result.stderr


def test_production_refuses_to_start_without_stripe_secrets():
    production = {"DJANGO_DEBUG": "false", "DJANGO_SECRET_KEY": "k" * 50}
    result = load_settings(**production)
    assert result.returncode != 0
    assert "STRIPE_SECRET_KEY" in result.stderr
    assert "STRIPE_WEBHOOK_SECRET" in result.stderr

    result = load_settings(**{**production, **STRIPE, "STRIPE_SECRET_KEY": "pk_live_1"})
    assert result.returncode != 0
    assert "not the publishable pk_... key" in result.stderr
    assert "STRIPE_WEBHOOK_SECRET" not in result.stderr

    result = load_settings(**production, **STRIPE, EMAIL_URL="consolemail://")
    assert result.returncode == 0, result.stderr


def test_production_refuses_to_start_without_an_email_server():
    """Without EMAIL_URL, order emails (names, addresses) would only be logged."""
    production = {"DJANGO_DEBUG": "false", "DJANGO_SECRET_KEY": "k" * 50, **STRIPE}
    result = load_settings(**production)
    assert result.returncode != 0
    assert "EMAIL_URL is unset" in result.stderr
    for url in ("smtp+tls://shop:pw@smtp.example.com:587", "consolemail://"):
        assert load_settings(**production, EMAIL_URL=url).returncode == 0


def test_env_example_lists_every_variable_the_settings_read():
    read = set(
        re.findall(
            r'env(?:\.\w+)?\(\s*"([A-Z0-9_]+)"',
            (ROOT / "shop" / "settings.py").read_text(),
        )
    )
    listed = set(
        re.findall(r"^#? ?([A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M)
    )
    assert "STRIPE_WEBHOOK_TOLERANCE_SECONDS" in read
    assert read - listed == set()


def test_every_variable_env_example_lists_is_read():
    """A variable set in .env works: the settings, the dev server, seed_demo or
    compose.yaml read each one .env.example lists."""
    listed = set(
        re.findall(r"^#? ?([A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M)
    )
    readers = [ROOT / "compose.yaml", ROOT / "shop" / "dev.py"]
    readers += (ROOT / "shop").rglob("*.py")
    text = "\n".join(path.read_text() for path in readers)
    unread = {
        name
        for name in listed
        if not re.search(rf"""["'{{]{name}[}}"':]|\${{{name}\b""", text)
    }
    assert unread == set()


def test_migrate_names_a_missing_database_in_one_sentence():
    """Not a pool timeout's traceback after 10 s: what is missing and the fix."""
    import time

    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DATABASE_", "DJANGO_"))
    }
    env.update(
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/shop_no_such_database",
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY="k" * 50,
        EMAIL_URL="consolemail://",
        **STRIPE,
    )
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "manage.py", "migrate"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode != 0
    assert time.monotonic() - started < 8
    assert result.stderr.strip().splitlines() == [
        "CommandError: The database 'shop_no_such_database' does not exist on "
        "127.0.0.1:5432 (DATABASE_URL): create it first, e.g. createdb -h 127.0.0.1 "
        "-p 5432 -U postgres shop_no_such_database."
    ]


def test_redis_commands_refuse_the_embedded_mode(tmp_path):
    """Without REDIS_URL each process has its own in-process Redis: registering
    documents or clearing the cache from a command would reach no server."""
    query = tmp_path / "q.graphql"
    query.write_text("query Q { __typename }")
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DATABASE_", "DJANGO_", "REDIS_", "CELERY_"))
    }
    env["SQLITE_PATH"] = str(tmp_path / "db.sqlite3")
    for command in (
        ["persisted_queries", "register", str(query)],
        ["persisted_queries", "list"],
        ["catalog_cache_clear"],
    ):
        result = subprocess.run(
            [sys.executable, "manage.py", *command],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode != 0, command
        assert "REDIS_URL is unset" in result.stderr, command
