"""The benchmark's load generator: a process of its own, cheap in CPU.

usage: python scripts/bench_load.py < job.json   (scripts/bench.py runs it)

One thread drives every connection from a ``selectors`` loop: keep-alive HTTP/1.1
over raw non-blocking sockets, each connection with its own list of request bytes
built in advance (one request in flight per connection, the next sent the moment
the answer is complete). No HTTP library, no JSON decoding of answers: a response
is read by its Content-Length (or chunked framing) and checked with byte
patterns. So the generator costs tens of microseconds of CPU per request, and
reports how much it used.

The job (JSON on stdin):
  port, warmup (seconds), seconds, connections: [[request, ...], ...] with each
  request the base64 of its bytes; cycle: true to repeat each connection's list,
  false to send each request once (then the connection stops); ok: a byte pattern
  (regex, base64) an answer must match to count as done (default: any 200);
  refused: a pattern that marks an expected refusal (counted apart, not an error);
  errors: a pattern that marks an error in a 200 answer (GraphQL ``errors``).

The result (JSON on stdout): completed, refused, cache hits (answers with
``X-Cache: HIT``, the response cache's mark), errors (with three samples),
elapsed, per_second, latency percentiles in ms, and the generator's own CPU
seconds over the measured window. A line ``measuring`` on stderr marks the end of
the warm-up, so the caller can sample the server's CPU over the same window.
"""

import base64
import json
import re
import select
import selectors
import socket
import sys
import time

RECEIVE = 1 << 18
DRAIN_SECONDS = 30  # how long answers in flight at the end are waited for
# A GraphQL error list, top level or in a mutation payload: `"errors": [{`
GRAPHQL_ERRORS = rb'"errors":\s*\[\s*\{'


class Connection:
    __slots__ = (
        "sock",
        "requests",
        "position",
        "sent_at",
        "buffer",
        "header_end",
        "length",
        "chunked",
        "status",
        "hit",
        "done",
    )

    def __init__(self, port: int, requests: list[bytes]) -> None:
        self.requests = requests
        self.position = 0
        self.done = False
        self.sock = None
        self.connect(port)

    def connect(self, port: int) -> None:
        if self.sock is not None:
            self.sock.close()
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setblocking(False)
        self.reset()

    def reset(self) -> None:
        self.buffer = bytearray()
        self.header_end = -1
        self.length = -1
        self.chunked = False
        self.status = 0
        self.hit = False

    def send(self, cycle: bool) -> bool:
        """Send the next request; False when a non-cycling list is used up."""
        if self.position >= len(self.requests):
            if not cycle:
                return False
            self.position = 0
        request = self.requests[self.position]
        self.position += 1
        self.sent_at = time.perf_counter()
        view = memoryview(request)
        while view:
            try:
                view = view[self.sock.send(view) :]
            except BlockingIOError:
                select.select([], [self.sock], [], 5)
        return True

    def complete(self) -> bool:
        """Whether the buffer holds a whole response (parsing what it can)."""
        buffer = self.buffer
        if self.header_end < 0:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return False
            self.header_end = end + 4
            head = bytes(buffer[:end]).lower()
            self.status = int(head[9:12])
            self.hit = b"\r\nx-cache: hit" in head
            match = re.search(rb"\r\ncontent-length:\s*(\d+)", head)
            if match:
                self.length = int(match.group(1))
            else:
                self.chunked = b"transfer-encoding: chunked" in head
                if not self.chunked:
                    self.length = 0
        if self.chunked:
            return buffer.endswith(b"0\r\n\r\n") and self._chunks_done()
        return len(buffer) >= self.header_end + self.length

    def _chunks_done(self) -> bool:
        position = self.header_end
        buffer = self.buffer
        while True:
            line_end = buffer.find(b"\r\n", position)
            if line_end < 0:
                return False
            size = int(bytes(buffer[position:line_end]).split(b";")[0], 16)
            position = line_end + 2 + size + 2
            if size == 0:
                return position <= len(buffer)
            if position > len(buffer):
                return False

    def body(self) -> bytes:
        if not self.chunked:
            return bytes(self.buffer[self.header_end : self.header_end + self.length])
        parts = []
        position = self.header_end
        buffer = self.buffer
        while True:
            line_end = buffer.find(b"\r\n", position)
            size = int(bytes(buffer[position:line_end]).split(b";")[0], 16)
            if size == 0:
                return b"".join(parts)
            parts.append(bytes(buffer[line_end + 2 : line_end + 2 + size]))
            position = line_end + 2 + size + 2


def run(job: dict) -> dict:
    port = job["port"]
    cycle = job.get("cycle", True)
    ok = re.compile(base64.b64decode(job["ok"])) if job.get("ok") else None
    refused = (
        re.compile(base64.b64decode(job["refused"])) if job.get("refused") else None
    )
    errors_pattern = re.compile(
        base64.b64decode(job["errors"]) if job.get("errors") else GRAPHQL_ERRORS
    )
    connections = [
        Connection(port, [base64.b64decode(r) for r in requests])
        for requests in job["connections"]
    ]
    selector = selectors.DefaultSelector()
    for connection in connections:
        selector.register(connection.sock, selectors.EVENT_READ, connection)

    warmup_until = time.perf_counter() + job.get("warmup", 0)
    measuring = job.get("warmup", 0) <= 0
    if measuring:
        print("measuring", file=sys.stderr, flush=True)
    began = time.perf_counter()
    cpu_began = time.process_time()
    stop = warmup_until + job["seconds"]
    latencies: list[float] = []
    completed = refusals = hits = 0
    total_completed = total_refused = 0
    failures: list[str] = []
    failure_count = 0
    last_done = began
    active = 0
    for connection in connections:
        if connection.send(cycle):
            active += 1
        else:
            connection.done = True

    def classify(connection: Connection) -> tuple[str, str]:
        body = connection.body()
        if connection.status != 200:
            return "error", f"HTTP {connection.status}: {body[:300]!r}"
        if refused is not None and refused.search(body):
            return "refused", ""
        if errors_pattern.search(body) or (ok is not None and not ok.search(body)):
            return "error", body[:400].decode(errors="replace")
        return "completed", ""

    # After the window: no new request; the answers in flight are still read
    # (for the totals only), so what the server did is all accounted for.
    draining = False
    ended = None
    cpu = 0.0
    while active:
        now = time.perf_counter()
        if not measuring and now >= warmup_until:
            measuring = True
            print("measuring", file=sys.stderr, flush=True)
            began = now
            cpu_began = time.process_time()
            latencies.clear()
            completed = refusals = failure_count = hits = 0
            failures.clear()
        if not draining and now >= stop:
            draining = True
            ended = now
            cpu = time.process_time() - cpu_began
        if draining and now >= stop + DRAIN_SECONDS:
            failures.append(f"{active} answers still missing after the run")
            failure_count += active
            break
        timeout = 0.5 if draining else min(0.5, stop - now)
        for key, _ in selector.select(timeout=timeout):
            connection: Connection = key.data
            try:
                data = connection.sock.recv(RECEIVE)
            except (BlockingIOError, InterruptedError):
                continue
            except ConnectionError as error:
                data = b""
                failures.append(f"connection error: {error!r}")
            if not data:
                # the server closed the connection: count it, open a new one
                failure_count += 1
                failures.append("connection closed by the server")
                selector.unregister(connection.sock)
                connection.connect(port)
                selector.register(connection.sock, selectors.EVENT_READ, connection)
                connection.position = max(0, connection.position - 1)
                if draining or not connection.send(cycle):
                    connection.done = True
                    active -= 1
                    selector.unregister(connection.sock)
                    connection.sock.close()
                continue
            connection.buffer += data
            if not connection.complete():
                continue
            finished = time.perf_counter()
            outcome, sample = classify(connection)
            total_completed += outcome == "completed"
            total_refused += outcome == "refused"
            if outcome == "error":
                failure_count += 1
                failures.append(sample)
            if not draining:
                latencies.append(finished - connection.sent_at)
                last_done = finished
                hits += connection.hit
                completed += outcome == "completed"
                refusals += outcome == "refused"
            connection.reset()
            if draining or not connection.send(cycle):
                # done: closed, so the server's keep-alive timeout cannot
                # count as an error while the others finish
                connection.done = True
                active -= 1
                selector.unregister(connection.sock)
                connection.sock.close()
    exhausted = ended is None  # every list used up before the window's end
    if exhausted:
        ended = last_done
        cpu = time.process_time() - cpu_began
    for connection in connections:
        connection.sock.close()
    elapsed = max(ended - began, 1e-9)
    latencies.sort()

    def percentile(p: float) -> float | None:
        if not latencies:
            return None
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    answered = len(latencies)
    return {
        "requests": answered,
        "completed": completed,
        "refused": refusals,
        "cache_hits": hits,
        "total_completed": total_completed,
        "total_refused": total_refused,
        "errors": failure_count,
        "error_samples": failures[:3],
        "elapsed": elapsed,
        "per_second": answered / elapsed,
        "completed_per_second": completed / elapsed,
        "p50_ms": percentile(0.50),
        "p90_ms": percentile(0.90),
        "p99_ms": percentile(0.99),
        "max_ms": latencies[-1] * 1000 if latencies else None,
        "mean_ms": sum(latencies) / answered * 1000 if answered else None,
        "generator_cpu_seconds": cpu,
        "generator_cpu_percent": cpu / elapsed * 100,
        "exhausted": exhausted,
    }


def main() -> int:
    job = json.load(sys.stdin)
    json.dump(run(job), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
