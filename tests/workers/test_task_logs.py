"""A task's log lines carry its task id and the request id that enqueued it."""

import logging
import time

from celery.contrib.testing.worker import start_worker

from shop.core.logs import LogScope, enter_scope, exit_scope
from tests.log_helpers import captured_log_output
from workers import app


@app.task(name="tests.workers.log_probe")
def log_probe(note: str) -> None:
    logging.getLogger("shop.probe").warning("probe %s", note)


def probe_lines(log_output, seconds: float = 0) -> list[dict]:
    deadline = time.monotonic() + seconds
    while not (lines := log_output.lines("shop.probe")) and time.monotonic() < deadline:
        time.sleep(0.1)
    return lines


def test_a_task_run_in_a_request_logs_both_ids(log_output):
    token = enter_scope(LogScope(request_id="req-eager-1"))
    try:
        result = log_probe.apply(args=["eager"])
    finally:
        exit_scope(token)

    [line] = probe_lines(log_output)
    assert (line["request_id"], line["task_id"]) == ("req-eager-1", result.id)


def test_a_queued_task_logs_the_request_id_that_enqueued_it(caplog):
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        # The worker just put its own handler on the root logger.
        caplog.set_level(logging.INFO)
        with captured_log_output() as log_output:
            token = enter_scope(LogScope(request_id="req-queued-1"))
            try:
                result = log_probe.delay("queued")
            finally:
                exit_scope(token)
            [line] = probe_lines(log_output, seconds=15)

    assert (line["request_id"], line["task_id"]) == ("req-queued-1", result.id)


def test_a_task_without_request_is_named_by_its_task_id(log_output):
    result = log_probe.apply(args=["beat"])
    [line] = probe_lines(log_output)
    assert line["request_id"] == line["task_id"] == result.id
