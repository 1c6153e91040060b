"""Make sure PostgreSQL and Redis answer at DATABASE_URL / REDIS_URL.

usage: python scripts/services.py ensure

Starts the machine's own servers when they are installed but down (the commands are
those of a Debian machine with the postgresql and redis-server packages); otherwise
says exactly what is missing and exits 1.
"""

import glob
import os
import shutil
import socket
import subprocess
import sys
import time
from urllib.parse import urlparse

POSTGRES_START = "pg_ctlcluster --skip-systemctl-redirect {version} main start"
REDIS_START = [
    "redis-server",
    "--daemonize",
    "yes",
    "--bind",
    "127.0.0.1",
    "-::1",
    "--port",
    "{port}",
    "--save",
    "",
    "--appendonly",
    "no",
    "--dir",
    "/var/lib/redis",
    "--logfile",
    "/var/log/redis/ci.log",
]


def answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def wait_for(host: str, port: int, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if answers(host, port):
            return True
        time.sleep(0.3)
    return False


def start_postgres() -> str | None:
    """Start the local cluster; returns what is missing, or None."""
    if not shutil.which("pg_ctlcluster"):
        return "PostgreSQL is not installed (apt-get install postgresql)"
    versions = sorted(glob.glob("/etc/postgresql/*"))
    if not versions:
        return "no PostgreSQL cluster in /etc/postgresql"
    version = os.path.basename(versions[-1])
    subprocess.run(POSTGRES_START.format(version=version).split(), check=False)
    return None


def start_redis(port: int) -> str | None:
    if not shutil.which("redis-server"):
        return "Redis is not installed (apt-get install redis-server)"
    os.makedirs("/var/lib/redis", exist_ok=True)
    os.makedirs("/var/log/redis", exist_ok=True)
    command = [part.format(port=port) for part in REDIS_START]
    subprocess.run(command, check=False)
    return None


def ensure() -> int:
    database = urlparse(os.environ["DATABASE_URL"])
    redis = urlparse(os.environ["REDIS_URL"])
    problems = []
    for name, url, default_port, start in (
        ("PostgreSQL", database, 5432, lambda port: start_postgres()),
        ("Redis", redis, 6379, start_redis),
    ):
        host, port = url.hostname or "127.0.0.1", url.port or default_port
        if answers(host, port):
            continue
        local = host in ("127.0.0.1", "localhost", "::1")
        missing = start(port) if local else f"nothing answers at {host}:{port}"
        if missing is None and wait_for(host, port):
            print(f"{name} started at {host}:{port}")
            continue
        problems.append(f"{name} at {host}:{port}: {missing or 'did not start'}")
    for problem in problems:
        print(f"Missing service: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    if sys.argv[1:] != ["ensure"]:
        print(__doc__.strip(), file=sys.stderr)
        sys.exit(2)
    sys.exit(ensure())
