"""scripts/bench's own parts, without a shop server: its command line, and the
load generator (scripts/bench_load.py) against a small HTTP server whose answers
are known, so every count it reports can be checked exactly. Nothing is timed."""

import base64
import importlib.util
import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"

ANSWERS = {
    "/ok": (200, b'{"data": {"cart": {"errors": []}}}', {}),
    "/hit": (200, b'{"data": {"products": []}}', {"X-Cache": "HIT"}),
    "/graphql-error": (200, b'{"data": null, "errors": [{"message": "no"}]}', {}),
    "/sold-out": (
        200,
        b'{"data": {"checkout": {"order": null, '
        b'"errors": [{"code": "OUT_OF_STOCK"}]}}}',
        {},
    ),
    "/broken": (500, b"Internal Server Error", {}),
}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the generator expects

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        if self.path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b'{"data": ', b'{"ok": true}}'):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
            return
        status, body, headers = ANSWERS[self.path]
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def http_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def request(path: str) -> str:
    body = b'{"query": "{ x }"}'
    raw = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    return base64.b64encode(raw).decode()


def generate(job: dict) -> dict:
    done = subprocess.run(
        [sys.executable, str(SCRIPTS / "bench_load.py")],
        input=json.dumps(job).encode(),
        capture_output=True,
        timeout=60,
        check=True,
    )
    assert done.stderr.decode().strip() == "measuring"
    return json.loads(done.stdout)


def test_the_generator_counts_each_kind_of_answer(http_server):
    paths = ["/ok", "/hit", "/graphql-error", "/sold-out", "/broken", "/chunked"]
    result = generate(
        {
            "port": http_server,
            "seconds": 30,
            "warmup": 0,
            "cycle": False,
            "connections": [[request(p) for p in paths], [request("/ok")] * 3],
            "refused": base64.b64encode(rb'"code": "OUT_OF_STOCK"').decode(),
        }
    )

    assert result["exhausted"] is True  # each list sent once, then stopped
    assert result["requests"] == 9
    assert result["completed"] == 6  # /ok x4, /hit, /chunked
    assert result["total_completed"] == 6
    assert result["refused"] == 1
    assert result["cache_hits"] == 1
    assert result["errors"] == 2
    assert any("HTTP 500" in sample for sample in result["error_samples"])
    assert any('"message": "no"' in sample for sample in result["error_samples"])
    assert result["p50_ms"] is not None
    assert result["generator_cpu_seconds"] >= 0


def test_the_generator_requires_the_ok_pattern_when_given(http_server):
    result = generate(
        {
            "port": http_server,
            "seconds": 30,
            "cycle": False,
            "connections": [[request("/ok"), request("/chunked")]],
            "ok": base64.b64encode(rb'"ok": true').decode(),
        }
    )

    assert (result["completed"], result["errors"]) == (1, 1)


def load_bench():
    spec = importlib.util.spec_from_file_location("bench", SCRIPTS / "bench.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_command_line_lists_every_scenario():
    done = subprocess.run(
        [sys.executable, str(SCRIPTS / "bench.py"), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    for scenario in load_bench().SCENARIOS:
        assert scenario in done.stdout


def test_quick_shortens_every_scenario_and_old_names_still_work(monkeypatch):
    bench = load_bench()
    monkeypatch.setattr(sys, "argv", ["bench", "--quick", "checkout", "catalog"])

    args = bench.parse_arguments()

    assert args.scenarios == ["listing-uncached", "checkout-contention"]
    assert (args.seconds, args.warmup, args.changes, args.idle_seconds) == (
        2.5,
        0.5,
        3,
        1,
    )
    assert args.concurrency == 4
    assert args.subscribers == 1000


def test_selling_names_the_three_selling_scenarios(monkeypatch):
    bench = load_bench()
    monkeypatch.setattr(sys, "argv", ["bench", "selling", "cart"])

    args = bench.parse_arguments()

    assert args.scenarios == ["cart", "selling-quiet", "selling-1", "selling-5"]
    assert args.selling_products == 2000


def test_product_popularity_is_a_long_tail_drawn_the_same_each_run():
    bench = load_bench()
    drawn = bench.zipf_sample(2000, 50_000, seed=3)

    assert drawn == bench.zipf_sample(2000, 50_000, seed=3)
    first, second, tenth, hundredth = (drawn.count(k) for k in (0, 1, 9, 99))
    # weights 1/(k+1): the first product twice the second, ten times the tenth...
    assert first > 1.6 * second
    assert second > 3 * tenth
    assert tenth > 3 * hundredth
    assert len(set(drawn)) > 1000  # and the tail is asked for too


def test_an_unknown_scenario_is_refused(monkeypatch, capsys):
    bench = load_bench()
    monkeypatch.setattr(sys, "argv", ["bench", "listing"])

    with pytest.raises(SystemExit) as exit_:
        bench.parse_arguments()

    assert exit_.value.code == 2
    assert "unknown scenario listing" in capsys.readouterr().err


def test_answers_in_flight_when_the_window_closes_are_read_not_measured(http_server):
    result = generate(
        {
            "port": http_server,
            "seconds": 0.3,
            "warmup": 0.1,
            "cycle": True,
            "connections": [[request("/ok")]] * 3,
        }
    )

    assert result["exhausted"] is False  # cycling: stopped by the clock
    assert result["errors"] == 0
    assert result["completed"] == result["requests"] > 0
    # the warm-up's answers and the last ones in flight count in the totals only
    assert result["total_completed"] >= result["completed"] + 3


def test_a_failed_scenario_still_gets_its_row():
    bench = load_bench()
    run = bench.Run(bench.argparse.Namespace(seconds=1, warmup=0, concurrency=4))
    run.queries = {"listing-uncached": {"queries": 4}}
    failed = {"failed": True, "errors": 1, "error_samples": ["no server"]}

    assert bench.sql_per_request(run, "listing-cached", failed) is None
    assert bench.row("listing-cached", failed).rstrip().endswith("FAILED")
    assert failed["target_met"] is False
