"""What settings.LOGGING's handler writes, for tests of the log lines."""

import contextlib
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

from shop.core.logs import JsonFormatter, RequestContextFilter


def console_handler() -> logging.StreamHandler:
    """The root's handler from settings.LOGGING, or the one a Celery worker put in
    its place (workers.log_context gives it the same filters)."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler) and any(
            isinstance(f, RequestContextFilter) for f in handler.filters
        ):
            return handler
    raise AssertionError("no root handler with the shop's filters")


class LogOutput:
    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def lines(self, logger: str | None = None) -> list[dict[str, Any]]:
        """Every line written, parsed (each must be one JSON object)."""
        parsed = [json.loads(line) for line in self.text.splitlines()]
        return [line for line in parsed if logger is None or line["logger"] == logger]

    def request_line(self) -> dict[str, Any]:
        [line] = self.lines("shop.request")
        return line


@contextlib.contextmanager
def captured_log_output() -> Iterator[LogOutput]:
    """The production (JSON) lines the console handler writes meanwhile."""
    handler = console_handler()
    stream = io.StringIO()
    formatter = handler.formatter
    handler.setFormatter(JsonFormatter())
    previous = handler.setStream(stream)
    try:
        yield LogOutput(stream)
    finally:
        handler.setStream(previous)
        handler.setFormatter(formatter)


def record_texts(caplog) -> list[str]:
    """Everything each captured record holds: message, traceback, attributes."""
    texts = []
    for record in caplog.records:
        parts = [record.getMessage(), record.exc_text or ""]
        if record.exc_info:
            parts.append(logging.Formatter().formatException(record.exc_info))
        parts.extend(repr(value) for value in vars(record).values())
        texts.append("\n".join(parts))
    return texts
