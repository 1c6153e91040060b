"""scripts/dev as a newcomer meets it: the first start seeds and shows the admin's
password last, a second start keeps the catalog as staff left it, .env is read
(PORT included), a database of DATABASE_URL is created when missing, and every
configuration mistake is one sentence naming the variable, never a traceback."""

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import psycopg
import pytest

from tests.e2e.servers import ROOT, free_port, running

DEV = [str(ROOT / "scripts" / "dev"), "--no-reload"]


def dev_env(env_file: Path, **extra: str) -> dict:
    """The process environment of a newcomer's shell: nothing of the test suite's
    configuration, a .env of the test's own."""
    clean = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(
            ("DJANGO_", "DATABASE_", "REDIS_", "CELERY_", "STRIPE_", "DEMO_")
        )
        and key not in ("PORT", "SQLITE_PATH")
    }
    return {**clean, "SHOP_ENV_FILE": str(env_file), **extra}


def write_env(path: Path, **values: str) -> Path:
    path.write_text("".join(f"{key}={value}\n" for key, value in values.items()))
    return path


def graphql(base: str, query: str, variables: dict | None = None) -> dict:
    request = urllib.request.Request(
        f"{base}/graphql/",
        data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=20) as response:
        return json.loads(response.read())


SIGN_IN = """mutation($password: String!) {
  tokenAuth(email: "admin@example.com", password: $password) {
    token errors { code } } }"""


def test_first_and_second_start(tmp_path):
    port = free_port()
    database = tmp_path / "shop.sqlite3"
    env_file = write_env(tmp_path / ".env", PORT=str(port), SQLITE_PATH=str(database))
    env = dev_env(env_file)

    # First start: seeds, and the admin's password is the last thing printed.
    log = tmp_path / "first.log"
    with running(DEV, env=env, port=port, log=log, probe="/healthz/") as base:
        assert base.endswith(f":{port}")  # PORT came from .env
        first = _wait_for_banner(log)
        password = re.search(r"admin@example\.com / (\S+)", first).group(1)
        signed_in = graphql(base, SIGN_IN, {"password": password})
        assert signed_in["data"]["tokenAuth"]["errors"] == []
    assert "Demo catalog: 12 categories created" in first
    _banner_is_last_at_start(first)
    assert "changepassword admin@example.com" in first
    assert "Traceback" not in first
    assert not re.search(r"\bWarning\b|\bWARNING\b", first), first

    # Staff delete a product; the second start keeps the catalog as it is.
    subprocess.run(
        [
            sys.executable,
            "manage.py",
            "shell",
            "-c",
            "from shop.catalog.models import Product; "
            "Product.objects.get(slug='lumen-x2-pro').delete()",
        ],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    log = tmp_path / "second.log"
    with running(DEV, env=env, port=port, log=log, probe="/healthz/") as base:
        second = _wait_for_banner(log)
        found = graphql(base, '{ product(slug: "lumen-x2-pro") { name } }')
        assert found["data"] == {"product": None}
    assert "Demo catalog: kept (39 products)." in second
    _banner_is_last_at_start(second)
    assert "Applying" not in second
    assert password not in second
    assert "password shown at the first start" in second

    # DEMO_ADMIN_PASSWORD on a later run sets the password.
    write_env(
        env_file,
        PORT=str(port),
        SQLITE_PATH=str(database),
        DEMO_ADMIN_PASSWORD="a chosen passphrase",
    )
    log = tmp_path / "third.log"
    with running(DEV, env=env, port=port, log=log, probe="/healthz/") as base:
        third = _wait_for_banner(log)
        chosen = graphql(base, SIGN_IN, {"password": "a chosen passphrase"})
        assert chosen["data"]["tokenAuth"]["errors"] == []
        old = graphql(base, SIGN_IN, {"password": password})
        assert old["data"]["tokenAuth"]["errors"] == [{"code": "INVALID_CREDENTIALS"}]
    assert "the password in DEMO_ADMIN_PASSWORD" in third


def _wait_for_banner(log: Path) -> str:
    """The log once the start-up banner is printed."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and "Sign in:" not in log.read_text():
        time.sleep(0.2)
    time.sleep(0.5)  # the rest of the banner
    return log.read_text()


def _banner_is_last_at_start(text: str) -> None:
    assert text.index("Uvicorn running on") < text.index("GraphiQL:"), text


@pytest.mark.django_db
def test_against_services_it_stays_in_debug_and_creates_its_database(tmp_path):
    name = f"shop_dev_{uuid.uuid4().hex[:8]}"
    port = free_port()
    env_file = write_env(
        tmp_path / ".env",
        PORT=str(port),
        DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{name}",
        REDIS_URL=os.environ["REDIS_URL"],
        # a production .env copied over: scripts/dev still runs in debug
        DJANGO_DEBUG="false",
        DEMO_ADMIN_PASSWORD="a demo passphrase",
    )
    try:
        log = tmp_path / "dev.log"
        with running(
            DEV, env=dev_env(env_file), port=port, log=log, probe="/healthz/"
        ) as base:
            text = _wait_for_banner(log)
            listed = graphql(base, "{ products(first: 1) { totalCount } }")
            assert listed["data"]["products"]["totalCount"] == 40
        assert f"Created the PostgreSQL database '{name}'." in text
        assert "Traceback" not in text
    finally:
        with psycopg.connect(
            "postgres://postgres@127.0.0.1:5432/postgres", autocommit=True
        ) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.parametrize(
    ("variables", "sentence"),
    [
        (
            {"DATABASE_URL": "postgress://shop@127.0.0.1:5432/shop"},
            "DATABASE_URL must be a PostgreSQL URL such as "
            "postgres://user:password@host:5432/shop, not postgress://.",
        ),
        (
            {"DATABASE_URL": "postgres://shop@127.0.0.1:notaport/shop"},
            "DATABASE_URL is not a valid PostgreSQL URL",
        ),
        (
            {"DATABASE_URL": "postgres://postgres@127.0.0.1:1/shop"},
            "PostgreSQL at 127.0.0.1:1 (DATABASE_URL) does not answer",
        ),
        ({"REDIS_URL": "http://127.0.0.1:6379/0"}, "REDIS_URL must be a Redis URL"),
        (
            {
                "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/postgres",
                "REDIS_URL": "redis://127.0.0.1:1/0",
            },
            "Redis (REDIS_URL) does not answer",
        ),
        ({"PORT": "eighty"}, "PORT must be a port number, not 'eighty'."),
    ],
)
def test_configuration_mistakes_are_one_sentence(tmp_path, variables, sentence):
    env_file = write_env(
        tmp_path / ".env", SQLITE_PATH=str(tmp_path / "shop.sqlite3"), **variables
    )
    result = subprocess.run(
        DEV,
        cwd=ROOT,
        env=dev_env(env_file),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("scripts/dev: ")
    assert sentence in lines[0]
    if "password" in str(variables):
        assert "password" not in lines[0].lower()


def test_production_without_a_secret_is_one_sentence(tmp_path):
    """Only the process environment can turn debug off for scripts/dev."""
    env_file = write_env(tmp_path / ".env", SQLITE_PATH=str(tmp_path / "db.sqlite3"))
    env = dev_env(env_file, DJANGO_DEBUG="false")
    result = subprocess.run(
        DEV, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("scripts/dev: DJANGO_DEBUG is off (production)")
    assert "DJANGO_SECRET_KEY" in result.stderr
