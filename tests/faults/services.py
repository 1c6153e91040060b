"""Private PostgreSQL and Redis servers that a fault test may stop and restart.

The shared servers at 127.0.0.1:5432 and :6379 serve every other test run on the
machine: a fault test never touches them. It starts its own on a free port, in a
temporary directory, and removes them when it is done.
"""

import contextlib
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

from tests.e2e.servers import ROOT, free_port

PYTHON = str(Path(sys.executable))


def postgres_bin() -> Path | None:
    """The directory of PostgreSQL's server programs (initdb, pg_ctl), if any."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(str(Path(on_path).parent))
    for folder in candidates:
        if (Path(folder) / "initdb").exists() and (Path(folder) / "pg_ctl").exists():
            return Path(folder)
    return None


class PrivatePostgres:
    """A throwaway PostgreSQL cluster (trust authentication, user postgres)."""

    def __init__(self, binaries: Path) -> None:
        self.binaries = binaries
        self.port = free_port()
        # PostgreSQL refuses to run as root: as root, the cluster belongs to the
        # postgres user, in a directory of its own outside pytest's (private)
        # temporary directories.
        self.owner = "postgres" if os.geteuid() == 0 else None
        self.root = Path(tempfile.mkdtemp(prefix="shop-fault-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        if self.owner:
            shutil.chown(self.root, self.owner)
        self._as_owner(
            "initdb", "-D", self.data, "-U", "postgres", "-A", "trust", "--no-sync"
        )

    def _as_owner(self, program: str, *args) -> None:
        command = [str(self.binaries / program), *map(str, args)]
        if self.owner:
            command = ["runuser", "-u", self.owner, "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def _pg_ctl(self, action: str, *args: str) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} "
            "-c fsync=off -c full_page_writes=off"
        )
        self._as_owner(
            "pg_ctl", action, "-D", self.data, "-l", self.log, "-w", "-o", options,
            *args,
        )  # fmt: skip

    def start(self) -> None:
        self._pg_ctl("start")

    def restart(self) -> None:
        """A fast restart: every open connection is cut."""
        self._pg_ctl("restart", "-m", "fast")

    def stop(self) -> None:
        self._pg_ctl("stop", "-m", "immediate")

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> None:
        self._as_owner(
            "createdb", "-h", "127.0.0.1", "-p", self.port, "-U", "postgres", name
        )

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # not running
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


class PrivateRedis:
    """A redis-server on a free port; its data (append-only file, in a temporary
    directory) survives a stop and start, as a production Redis's would."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.root = Path(tempfile.mkdtemp(prefix="shop-fault-redis-"))
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port)]
            + ["--save", "", "--appendonly", "yes", "--dir", str(self.root)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if client.ping():
                    return
            except redis.ConnectionError:
                time.sleep(0.1)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)
        self.process = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def manage(env: dict, *args: str) -> str:
    """Run ``manage.py`` with ``env``; its output."""
    done = subprocess.run(
        [PYTHON, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout
