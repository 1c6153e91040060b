"""Fixtures of the end-to-end tests."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def node() -> str:
    """Node 18+ with tests/e2e/apollo's packages installed (scripts/node-deps). CI
    must run the Apollo tests: when Node cannot be had, they fail with the
    script's sentence."""
    result = subprocess.run(
        [str(ROOT / "scripts" / "node-deps")],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(result.stderr.strip() or result.stdout.strip(), pytrace=False)
    return shutil.which("node")
