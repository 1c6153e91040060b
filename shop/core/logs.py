"""What the shop's log lines carry, and what they never carry.

- A scope per HTTP request (RequestLogMiddleware), GraphQL operation over WebSocket
  or Celery task, in a context variable: its request id reaches every record
  through ``RequestContextFilter``.
- ``DependencyOutageFilter``: a Redis, PostgreSQL, broker or Stripe outage is one
  line per scope and dependency, without traceback; the same outage logged again by
  other code in that request or task is dropped.
- ``RedactingFilter`` and the formatters: passwords, access and refresh tokens, cart
  and order tokens, Stripe secrets and Authorization values never reach a line.
- ``TextFormatter`` for development, ``JsonFormatter`` (one JSON object per line)
  for production; DJANGO_LOG_FORMAT chooses (shop/settings.py).

The handlers in settings.LOGGING run the three filters in that order. Nothing here
imports the GraphQL layer or the Celery app.
"""

import contextlib
import contextvars
import logging
import re
import sqlite3
import uuid
from dataclasses import dataclass, field

import psycopg
import redis.exceptions
import stripe
from django.db import utils as db_errors
from kombu import exceptions as kombu_errors
from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

REQUEST_ID_HEADER = "X-Request-ID"
REDACTED = "[REDACTED]"

# ---------------------------------------------------------------- the scope


@dataclass(eq=False)
class LogScope:
    """One request, WebSocket operation or task, as its log lines describe it."""

    request_id: str
    task_id: str | None = None
    operation: str | None = None
    error_codes: list[str] = field(default_factory=list)
    dependencies_down: set[str] = field(default_factory=set)


_scope: contextvars.ContextVar[LogScope | None] = contextvars.ContextVar(
    "shop_log_scope", default=None
)


def current_scope() -> LogScope | None:
    """The request or task being served in this context, if any."""
    return _scope.get()


def enter_scope(scope: LogScope) -> contextvars.Token:
    """Make ``scope`` current; pass the token to ``exit_scope`` when it ends."""
    return _scope.set(scope)


def exit_scope(token: contextvars.Token) -> None:
    # A scope ended in another context than it began in (an async generator
    # finished by another task) ends with that context anyway.
    with contextlib.suppress(ValueError):
        _scope.reset(token)


# Letters, digits and ._:- (UUIDs, hex ids, most proxies' ids), at most 128.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


def sane_request_id(value: str | None) -> str | None:
    """``value`` if it may serve as a request id (charset, length, no secret)."""
    if value and _SANE_REQUEST_ID.fullmatch(value) and redact(value) == value:
        return value
    return None


def request_id_from(header: str | None) -> str:
    """The client's (or proxy's) X-Request-ID when sane; a new one otherwise."""
    return sane_request_id(header) or uuid.uuid4().hex


# ---------------------------------------------------------------- redaction

_SECRET_NAME = (
    r"[\w-]*(?:password|passwd|secret|token|authorization|api[_-]?key|signature"
    r"|cookie|sessionid)[\w-]*"
)
_SECRET_ATTRIBUTE = re.compile(_SECRET_NAME, re.IGNORECASE)
_QUOTE = r"""(?:\\?["'])?"""
_VALUE = (
    r'\\"(?:[^"\\]|\\[^"])*\\"'  # inside a JSON-encoded string: \"...\"
    r'|"(?:[^"\\]|\\.)*"'
    r"|'(?:[^'\\]|\\.)*'"
    r"|[^\s,;&)}\]]+"
)
# name: value, "name": "value", 'name': 'value', name=value, (name)=(value)
_KEYED_SECRET = re.compile(
    rf"(?P<key>{_QUOTE}\b{_SECRET_NAME}{_QUOTE}\)?\s*[:=]\s*\(?)(?P<value>{_VALUE})",
    re.IGNORECASE,
)
_SECRET_SHAPES = [
    # Authorization values
    (re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+", re.IGNORECASE), r"\1 "),
    # ... whatever the scheme (not a placeholder such as <access token>)
    (
        re.compile(
            r"\b(Authorization[\"']?\s*[:=]\s*[\"']?[A-Za-z]+\s+)"
            r"(?!<|\[REDACTED\])[^\s\"',;]+",
            re.IGNORECASE,
        ),
        r"\1",
    ),
    # Passwords in URLs: redis://:password@host, postgres://user:password@host
    (
        re.compile(r"\b([a-z][a-z0-9+.-]*://[^:/\s@]*:)[^@\s/]+(?=@)", re.IGNORECASE),
        r"\1",
    ),
    # JWTs (access tokens)
    (re.compile(r"\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), ""),
    # Stripe secret and restricted keys, webhook secrets, client secrets
    (re.compile(r"\b[sr]k_(?:live|test)_[A-Za-z0-9]+"), ""),
    (re.compile(r"\bwhsec_[A-Za-z0-9+/=]+"), ""),
    (re.compile(r"\b\w+_secret_[A-Za-z0-9]+"), ""),
    # Random tokens (cart, order and refresh tokens: 43 url-safe or 64 hex
    # characters): 40+ letters, digits, - and _ with a digit and a letter; not a
    # Stripe object id (cs_test_..., evt_...), which is no secret.
    (
        re.compile(
            r"(?<![\w-])(?!(?:cs|pi|seti|evt|ch|re|cus|bps)_)"
            r"(?=[\w-]*\d)(?=[\w-]*[A-Za-z])[A-Za-z0-9_-]{40,}(?![\w-])"
        ),
        "",
    ),
]


def redact(text: str) -> str:
    """``text`` without the secrets the shop handles."""
    for pattern, keep in _SECRET_SHAPES:
        text = pattern.sub(lambda match, keep=keep: match.expand(keep) + REDACTED, text)
    return _KEYED_SECRET.sub(_keyed_redacted, text)


def _keyed_redacted(match: re.Match) -> str:
    """An Authorization value's scheme word stays ("Authorization: Bearer
    [REDACTED]"): the credential after it is redacted by its own shape, and the
    shop's hint "Authorization: Bearer <access token>" must survive."""
    value = match.group("value").strip("\\\"'")
    following = match.string[match.end() : match.end() + 1]
    if (
        "authorization" in match.group("key").lower()
        and value.isalpha()
        and following.isspace()
    ):
        return match.group(0)
    return match.group("key") + REDACTED


# ---------------------------------------------------------------- outages

_UNREACHABLE_SQLSTATES = {"57P01", "57P02", "57P03"}  # shutdown, cannot connect now


def _dependency_of(error: BaseException) -> str | None:
    if isinstance(
        error, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError
    ):
        return "redis"
    if isinstance(error, kombu_errors.OperationalError):
        return "broker"
    if isinstance(error, stripe.APIConnectionError):
        return "stripe"
    if isinstance(error, psycopg.InterfaceError):
        return "database"
    if isinstance(error, psycopg.OperationalError):
        # Not a deadlock or a canceled statement: the server cannot be reached
        # (no SQLSTATE: the client side failed; class 08: connection exception).
        state = error.sqlstate
        if state is None or state.startswith("08") or state in _UNREACHABLE_SQLSTATES:
            return "database"
        return None
    if (
        isinstance(error, db_errors.OperationalError | db_errors.InterfaceError)
        and error.__cause__ is None
    ):
        return "database"
    return None


def dependency_down(error: BaseException | None) -> tuple[str, BaseException] | None:
    """(the service, the error) when ``error`` or what caused it means that a
    service the shop depends on cannot be reached; None otherwise."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, sqlite3.Error):
            return None  # "database is locked" and the like: not an outage
        name = _dependency_of(error)
        if name:
            return name, error
        error = (
            getattr(error, "original_error", None)  # a GraphQLError's
            or error.__cause__
            or (None if error.__suppress_context__ else error.__context__)
        )
    return None


def outage_text(dependency: str, error: BaseException) -> str:
    """``redis unavailable (ConnectionError: Error 111 ...)``, on one line."""
    detail = " ".join(str(error).split())[:200]
    return f"{dependency} unavailable ({type(error).__name__}: {detail})"


# ---------------------------------------------------------------- filters


class RequestContextFilter(logging.Filter):
    """Adds ``request_id`` (and ``task_id`` in a Celery task) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        scope = current_scope()
        if not hasattr(record, "request_id"):
            record.request_id = scope.request_id if scope else None
        if scope and scope.task_id and not hasattr(record, "task_id"):
            record.task_id = scope.task_id
        return True


class DependencyOutageFilter(logging.Filter):
    """An outage is one line per request (or task) and dependency: the first
    record about it loses its traceback, the next ones in that scope are dropped.

    A record names its outage with a ``dependency`` attribute, or through the
    exception it carries. Outside any scope every such record is kept, one line
    each.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        decided = getattr(record, "_outage_keep", None)
        if decided is not None:  # another handler already decided
            return decided
        dependency = getattr(record, "dependency", None)
        if dependency is None and record.exc_info and record.exc_info[1] is not None:
            down = dependency_down(record.exc_info[1])
            if down:
                dependency = down[0]
                _collapse(record, *down)
        keep = True
        scope = current_scope()
        if dependency and scope is not None:
            keep = dependency not in scope.dependencies_down
            scope.dependencies_down.add(dependency)
        record._outage_keep = keep
        return keep


def _message(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception:  # arguments that do not fit the message
        return str(record.msg)


def _collapse(record: logging.LogRecord, dependency: str, error: BaseException):
    record.msg = f"{_message(record)}: {outage_text(dependency, error)}"
    record.args = None
    record.exc_info = None
    record.exc_text = None
    record.dependency = dependency


class QuietSecurityFilter(logging.Filter):
    """Django's ``django.security`` records (a bad Host header, a malformed
    request) are client errors: one line, without the traceback Django adds."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("django.security") and record.exc_info:
            record.exc_info = None
            record.exc_text = None
            if record.levelno > logging.WARNING:
                record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


# LogRecord's own attributes; anything else on a record came from ``extra``.
_RECORD_ATTRIBUTES = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
_NOT_REDACTED = {"request_id", "task_id", "_outage_keep", "_redacted"}
_plain = logging.Formatter()


class RedactingFilter(logging.Filter):
    """Removes secrets from the message, the traceback and ``extra`` values
    (see ``redact``); values of attributes named like a secret are dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_redacted", False):
            return True
        record.msg = redact(_message(record))
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = _plain.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for name, value in list(vars(record).items()):
            if name in _RECORD_ATTRIBUTES or name in _NOT_REDACTED:
                continue
            if _SECRET_ATTRIBUTE.fullmatch(name) and value is not None:
                setattr(record, name, REDACTED)
            elif isinstance(value, str):
                setattr(record, name, redact(value))
        record._redacted = True
        return True


# ---------------------------------------------------------------- formatters


class TextFormatter(logging.Formatter):
    """``2025-01-01 12:00:00,000 INFO shop.request [<request id>] message``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        context = getattr(record, "request_id", None) or "-"
        task_id = getattr(record, "task_id", None)
        if task_id:
            context += f" task={task_id}"
        return (
            f"{record.asctime} {record.levelname} {record.name} [{context}] "
            f"{record.message}"
        )

    def formatException(self, ei) -> str:
        return redact(super().formatException(ei))


class JsonFormatter(_JsonFormatter):
    """One JSON object per line: time, level, logger, message, request_id, the
    record's ``extra`` fields, and ``exc_info`` (the traceback) when there is one.
    """

    def __init__(self) -> None:
        super().__init__(
            "{levelname}{name}{message}",
            style="{",
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp="time",
        )

    def formatException(self, ei) -> str:
        return redact(super().formatException(ei))

    def process_log_record(self, log_data: dict) -> dict:
        data = {
            key: value
            for key, value in log_data.items()
            # Private markers of the filters; uvicorn's message with ANSI colours.
            if key[0] != "_" and key != "color_message"
        }
        # django.request passes the HttpRequest: keep its method and path only
        # (its repr has the query string, which may hold a GraphQL document).
        request = data.pop("request", None)
        if request is not None and hasattr(request, "method"):
            data.setdefault("method", request.method)
            data.setdefault("path", request.path[:200])
        return data
