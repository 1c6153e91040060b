"""The committed SDL is the served schema, and it keeps the contract's catalog."""

import subprocess
import sys
from pathlib import Path

import pytest
from strawberry.printer import print_schema

from schema import schema

ROOT = Path(__file__).resolve().parents[2]
SDL = ROOT / "schema" / "schema.graphql"
CONTRACT = ROOT.parent / "shared" / "schema-contract.graphql"
CHECKER = ROOT.parent / "shared" / "tools" / "contract_check.py"

# Contract parts that later issues build; everything else must match already.
NOT_YET: set[str] = {
}  # fmt: skip


def _subject(line: str) -> str:
    """The type or field a line is about: 'contract: Query.me: x' -> 'Query.me'"""
    words = line.removeprefix("contract: ").split()
    name = words[1] if words[0] in ("type", "enum") else words[0]
    return name.split("(")[0].rstrip(":")


def test_exported_schema_file_is_up_to_date():
    assert SDL.read_text().rstrip("\n") == print_schema(schema), (
        "schema/schema.graphql is stale: run "
        "python manage.py export_schema schema --path schema/schema.graphql"
    )


def test_catalog_part_of_the_contract_is_served():
    if not CONTRACT.exists():  # shared/ sits beside the clone, locally and in CI
        pytest.skip("no shared/schema-contract.graphql beside the repository")
    result = subprocess.run(
        [sys.executable, str(CHECKER), str(CONTRACT), str(SDL)],
        capture_output=True,
        text=True,
        check=False,
    )
    problems = [
        line
        for line in result.stdout.splitlines()
        if line.startswith("contract: ")
        and not line.endswith("differences")
        and _subject(line) not in NOT_YET
    ]
    assert problems == []
