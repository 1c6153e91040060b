"""GraphQL over HTTP: graphql-http's reference audit (serverAudits) run from Node
against a real server, and the media type Apollo Client 4 asks for."""

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.e2e.servers import server_database_url, uvicorn

ROOT = Path(__file__).resolve().parents[2]
APOLLO = ROOT / "tests" / "e2e" / "apollo"
GRAPHQL_RESPONSE = "application/graphql-response+json"


@pytest.fixture
def server(django_db_setup, tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": server_database_url(),
        "DJANGO_DEBUG": "false",
        "DJANGO_LOG_LEVEL": "WARNING",
    }
    with uvicorn(env, tmp_path / "server.log") as base:
        yield base


@pytest.mark.django_db(transaction=True)
def test_the_reference_audit_passes(node, server):
    """Every MUST, and every SHOULD about application/graphql-response+json."""
    result = subprocess.run(
        [node, "audit.mjs", f"{server}/graphql/"],
        cwd=APOLLO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    audits = json.loads(result.stdout)
    assert len(audits) > 40
    failed = [
        audit
        for audit in audits
        if audit["status"] != "ok"
        and (
            audit["name"].startswith("MUST")
            or (
                audit["name"].startswith("SHOULD") and GRAPHQL_RESPONSE in audit["name"]
            )
        )
    ]
    assert failed == [], failed


@pytest.mark.django_db(transaction=True)
def test_request_errors_in_the_media_type_apollo_asks_for(server):
    import urllib.error
    import urllib.request

    def ask(body: dict, accept: str, method="POST", query=""):
        request = urllib.request.Request(
            f"{server}/graphql/{query}",
            data=json.dumps(body).encode() if method == "POST" else None,
            headers={"Content-Type": "application/json", "Accept": accept},
            method=method,
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.headers, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, error.headers, json.loads(error.read())

    apollo = f"{GRAPHQL_RESPONSE},application/json;q=0.9"
    status, headers, body = ask({"query": "{ __typename }"}, apollo)
    assert (status, body) == (200, {"data": {"__typename": "Query"}})
    assert headers["Content-Type"].startswith(GRAPHQL_RESPONSE)
    for document, code in (
        ("{", "GRAPHQL_PARSE_FAILED"),
        ("{ nope }", "GRAPHQL_VALIDATION_FAILED"),
    ):
        status, headers, body = ask({"query": document}, apollo)
        assert status == 400
        assert "data" not in body
        assert body["errors"][0]["extensions"]["code"] == code
    # application/json keeps its 200 with data: null
    status, _, body = ask({"query": "{ nope }"}, "application/json")
    assert (status, body["data"]) == (200, None)
    # several operations need an operationName
    status, _, body = ask(
        {"query": "query A { __typename } query B { __typename }"}, apollo
    )
    assert status == 400
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    # a mutation over GET: 405, in JSON, with a code
    status, headers, body = ask(
        {},
        apollo,
        method="GET",
        query="?query=mutation%7BcartClear%7BtotalQuantity%7D%7D",
    )
    assert status == 405
    assert headers["Allow"] == "POST"
    assert body["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"
