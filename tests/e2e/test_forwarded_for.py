"""A client-supplied X-Forwarded-For never moves a request to another client IP,
on the real servers: the shop's DJANGO_TRUSTED_PROXY_COUNT is the only rule.

uvicorn (and gunicorn's uvicorn worker) trust X-Forwarded-For from loopback by
default and rewrite the client address before the app sees it; the shop serves
with that off (uvicorn --no-proxy-headers, gunicorn -k shop.serve.UvicornWorker).
"""

import json
import os
import re
import urllib.request

import pytest

from tests.e2e.servers import ROOT, gunicorn, server_database_url, uvicorn

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN_AUTH = """mutation($email: String!) {
  tokenAuth(email: $email, password: "wrong password 1") { errors { code } } }"""
PER_IP = 3
SERVERS = {"uvicorn": uvicorn, "gunicorn": gunicorn}


def sign_in_code(base: str, email: str, forwarded_for: str) -> str:
    request = urllib.request.Request(
        f"{base}/graphql/",
        data=json.dumps({"query": TOKEN_AUTH, "variables": {"email": email}}).encode(),
        headers={"Content-Type": "application/json", "X-Forwarded-For": forwarded_for},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        body = json.loads(response.read())
    assert "errors" not in body, body
    return body["data"]["tokenAuth"]["errors"][0]["code"]


def codes(base: str, attempts: int) -> list[str]:
    """Wrong passwords for different emails, each from a different forged IP."""
    return [
        sign_in_code(base, f"guess{n}@example.com", f"198.51.100.{n + 1}")
        for n in range(attempts)
    ]


def environment(proxies: int) -> dict:
    return os.environ | {
        "DATABASE_URL": server_database_url(),
        "DJANGO_DEBUG": "false",
        "DJANGO_LOG_LEVEL": "WARNING",
        "LOGIN_FAILURES_PER_IP": str(PER_IP),
        "DJANGO_TRUSTED_PROXY_COUNT": str(proxies),
        # what a platform might set: the servers must not trust anyone anyway
        "FORWARDED_ALLOW_IPS": "*",
    }


@pytest.mark.parametrize("server", SERVERS)
def test_forged_forwarded_for_does_not_escape_the_ip_throttle(server, tmp_path):
    with SERVERS[server](environment(proxies=0), tmp_path / "server.log") as base:
        assert codes(base, PER_IP + 1) == ["INVALID_CREDENTIALS"] * PER_IP + [
            "THROTTLED"
        ]


@pytest.mark.parametrize("server", SERVERS)
def test_behind_a_trusted_proxy_the_forwarded_ip_counts(server, tmp_path):
    with SERVERS[server](environment(proxies=1), tmp_path / "server.log") as base:
        assert codes(base, PER_IP + 1) == ["INVALID_CREDENTIALS"] * (PER_IP + 1)


def test_every_documented_server_command_turns_proxy_headers_off():
    commands = []
    for name in (
        "PRODUCTION.md",
        "scripts/bench.py",
        "tests/e2e/servers.py",
        "Dockerfile",
        "compose.yaml",
    ):
        text = (ROOT / name).read_text()
        # one command: a shell line, or a Python list of arguments
        found = re.findall(
            r"[^\n]*(?:uvicorn|gunicorn)\S* shop\.asgi:application[^\n]*", text
        )
        found += re.findall(
            r'\[\s*str\(ROOT[^]]*?"shop\.asgi:application".*?\]', text, re.S
        )
        assert found, name
        commands += [(name, command) for command in found]
    for name, command in commands:
        if "gunicorn" in command:
            assert "shop.serve.UvicornWorker" in command, (name, command)
            assert "uvicorn_worker.UvicornWorker" not in command, (name, command)
        else:
            assert "--no-proxy-headers" in command, (name, command)
    # scripts/dev runs uvicorn from Python (shop/dev.py)
    dev = (ROOT / "shop" / "dev.py").read_text()
    (call,) = re.findall(
        r'uvicorn\.run\(\s*"shop\.asgi:application".*?\n    \)', dev, re.S
    )
    assert "proxy_headers=False" in call
