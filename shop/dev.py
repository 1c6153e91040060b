"""The development server behind ``scripts/dev``: ``python -m shop.dev [--no-reload]``.

It always runs in debug (DJANGO_DEBUG=true unless the process environment says
otherwise; a .env never turns it off) and reads everything else from .env and the
environment like any process of the shop. Before serving it:

- checks the configuration and the services, and stops on a mistake with one
  sentence naming the variable (a bad URL, PostgreSQL or Redis not answering),
  never a traceback;
- creates the PostgreSQL database of DATABASE_URL if it does not exist yet;
- applies migrations, and seeds the demo catalog into an empty catalog only
  (``seed_demo --if-empty``: what staff delete stays deleted);
- makes sure the staff user admin@example.com exists (DEMO_ADMIN_PASSWORD sets
  its password, also on a later run).

Then it serves on 127.0.0.1:PORT with uvicorn, reloading on code changes unless
``--no-reload``, and prints the addresses and the admin's sign-in last, once the
server answers.
"""

import argparse
import io
import os
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WATCHED = ["shop", "schema", "workers"]


class SetupError(Exception):
    """A configuration or service problem, told in one sentence."""


def main(argv: list[str] | None = None) -> int:
    options = _arguments(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")
    os.environ.setdefault("DJANGO_DEBUG", "true")
    try:
        _django_setup()
        port = options.port or _port()
        _database_ready()
        _redis_ready()
        _migrate()
        admin = _seed()
    except SetupError as error:
        print(f"scripts/dev: {error}", file=sys.stderr)
        return 2
    threading.Thread(
        target=_announce_when_serving, args=(port, admin), daemon=True
    ).start()
    _serve(port, reload=not options.no_reload)
    return 0


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/dev", description="Run the shop for development."
    )
    parser.add_argument(
        "--no-reload", action="store_true", help="Do not restart on code changes."
    )
    parser.add_argument(
        "--port", type=int, default=None, help="Port (default: PORT, else 8000)."
    )
    return parser.parse_args(argv)


def _django_setup() -> None:
    import django
    from django.core.exceptions import ImproperlyConfigured

    try:
        django.setup()
    except ImproperlyConfigured as error:
        raise SetupError(str(error)) from None
    except Exception as error:  # django-environ's parse errors, a bad .env line
        raise SetupError(f"The configuration could not be read: {error}") from None


def _port() -> int:
    # The settings have read .env into the environment by now.
    value = os.environ.get("PORT", "8000")
    try:
        return int(value)
    except ValueError:
        raise SetupError(f"PORT must be a port number, not {value!r}.") from None


def _database_ready() -> None:
    """Connect to the database, creating a missing PostgreSQL database."""
    from django.conf import settings
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    import psycopg
    from psycopg import sql

    database = settings.DATABASES["default"]
    where = f"{database.get('HOST') or 'localhost'}:{database.get('PORT') or 5432}"
    params = {
        "host": database.get("HOST") or None,
        "port": database.get("PORT") or None,
        "user": database.get("USER") or None,
        "password": database.get("PASSWORD") or None,
        "connect_timeout": 3,
    }
    try:
        psycopg.connect(dbname=database["NAME"], **params).close()
        return
    except psycopg.OperationalError as error:
        if "does not exist" not in str(error) or f'"{database["NAME"]}"' not in str(
            error
        ):
            raise SetupError(
                f"PostgreSQL at {where} (DATABASE_URL) does not answer: "
                f"{_first_line(error)}"
            ) from None
    try:
        with psycopg.connect(dbname="postgres", autocommit=True, **params) as admin:
            admin.execute(
                sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database["NAME"]))
            )
    except psycopg.Error as error:
        raise SetupError(
            f"The database {database['NAME']!r} of DATABASE_URL does not exist and "
            f"could not be created: {_first_line(error)}"
        ) from None
    print(f"Created the PostgreSQL database {database['NAME']!r}.")


def _redis_ready() -> None:
    from django.conf import settings

    if settings.EMBEDDED_REDIS:
        return
    import redis

    try:
        client = redis.Redis.from_url(
            settings.REDIS_URL, socket_connect_timeout=3, socket_timeout=3
        )
        client.ping()
        client.close()
    except (redis.RedisError, ValueError, OSError) as error:
        raise SetupError(f"Redis (REDIS_URL) does not answer: {error}") from None


def _migrate() -> None:
    from django.core.management import call_command
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if plan:
        print(f"Applying {len(plan)} migrations ...")
        call_command("migrate", interactive=False, verbosity=0)


def _seed():
    from django.core.management import call_command

    from shop.demo.accounts import demo_admin_ensure

    output = io.StringIO()
    call_command("seed_demo", if_empty=True, no_admin=True, stdout=output)
    print(output.getvalue().strip())
    return demo_admin_ensure(password=os.environ.get("DEMO_ADMIN_PASSWORD") or None)


def _announce_when_serving(port: int, admin) -> None:
    """Print the addresses and the admin's sign-in after the server's own start-up
    lines: the last thing a newcomer sees."""
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/healthz/", timeout=2):
                break
        except OSError:
            time.sleep(0.2)
    else:
        return
    if admin.generated_password:
        sign_in = (
            f"{admin.email} / {admin.generated_password}\n"
            "             (shown this once; change it with: python manage.py "
            f"changepassword {admin.email}, or set DEMO_ADMIN_PASSWORD)"
        )
    elif admin.password_from_setting:
        sign_in = f"{admin.email} / the password in DEMO_ADMIN_PASSWORD"
    else:
        sign_in = (
            f"{admin.email} (password shown at the first start; forgot it? "
            f"python manage.py changepassword {admin.email}, or set "
            "DEMO_ADMIN_PASSWORD)"
        )
    print(
        "\n"
        f"  GraphiQL:  {base}/graphql/\n"
        f"  Admin:     {base}/admin/\n"
        f"  Sign in:   {sign_in}\n",
        flush=True,
    )


def _serve(port: int, *, reload: bool) -> None:
    import uvicorn

    uvicorn.run(
        "shop.asgi:application",
        host="127.0.0.1",
        port=port,
        lifespan="off",
        # The app reads X-Forwarded-For itself (shop/serve.py).
        proxy_headers=False,
        # One log format: uvicorn's lines go through the shop's logging (its
        # LOGGING config), and one line per request comes from shop.request.
        log_config=None,
        access_log=False,
        reload=reload,
        reload_dirs=[str(ROOT / name) for name in WATCHED] if reload else None,
    )


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else repr(error)


if __name__ == "__main__":
    sys.exit(main())
