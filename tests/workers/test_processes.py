"""`celery -A workers worker` and `celery -A workers beat` start against Redis."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from workers import app

ROOT = Path(__file__).resolve().parents[2]
CELERY = str(Path(sys.executable).parent / "celery")


def start(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [CELERY, "-A", "workers", *args],
        cwd=ROOT,
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def stop(process: subprocess.Popen) -> str:
    os.killpg(process.pid, signal.SIGTERM)
    output, _ = process.communicate(timeout=30)
    return output


def test_worker_starts_and_answers_a_ping(tmp_path):
    worker = start("worker", "--pool", "solo", "--hostname", "ci-probe@%h")
    try:
        deadline = time.monotonic() + 60
        replies = []
        while time.monotonic() < deadline and not replies:
            assert worker.poll() is None, worker.stdout.read()
            replies = app.control.ping(timeout=1)
        assert any(name.startswith("ci-probe@") for r in replies for name in r)
    finally:
        stop(worker)


def test_beat_starts(tmp_path):
    beat = start(
        "beat", "--loglevel", "INFO", "--schedule", str(tmp_path / "beat-schedule")
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(beat.stdout), daemon=True)
    reader.start()
    try:
        # Up to a minute to start (importing Django and the app on a busy CI
        # machine), then it must still be running.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(
            "beat: Starting..." in line for line in lines
        ):
            assert beat.poll() is None, "".join(lines)
            time.sleep(0.2)
        assert any("beat: Starting..." in line for line in lines), "".join(lines)
        time.sleep(1)
        assert beat.poll() is None, "".join(lines)
    finally:
        os.killpg(beat.pid, signal.SIGTERM)
        beat.wait(timeout=30)
