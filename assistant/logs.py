"""Structured logs that never carry what people typed, message bodies or secrets, and that
tie every line to the request (or outbox round) it came from."""

from __future__ import annotations

import json
import logging
import re
import secrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

DROPPED = frozenset({"text", "body", "value", "blocks", "view", "state", "answers", "headers"})
_STANDARD = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}
_TOKENS = re.compile(r"\b(xox[abprs]-[\w-]+|eyJ[\w-]+\.[\w-]+\.[\w-]+|Bearer\s+\S+)")
_TEN_DIGITS = re.compile(r"\b\d{3}[ -]?\d{3}[ -]?\d{4}\b")
# A context variable, not a global: asyncio copies it into the tasks a request starts (Bolt
# runs a turn after the acknowledgement) and asyncio.to_thread into the turn's thread, so
# each line knows its request without the id being passed through every call.
_REQUEST_ID: ContextVar[str | None] = ContextVar("spoke_request_id", default=None)
_ACCEPTED_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def new_request_id(offered: str | None = None, prefix: str = "") -> str:
    """The id a proxy sent (X-Request-Id) when it is a plain token; otherwise a fresh one."""
    if offered and _ACCEPTED_ID.fullmatch(offered):
        return offered
    return prefix + secrets.token_hex(8)


@contextmanager
def request_scope(request_id: str) -> Iterator[str]:
    """Every line logged inside (and in tasks and threads started inside) carries the id."""
    token = _REQUEST_ID.set(request_id)
    try:
        yield request_id
    finally:
        _REQUEST_ID.reset(token)


def current_request_id() -> str | None:
    return _REQUEST_ID.get()


def redact(text: str) -> str:
    """Tokens and anything shaped like a 10-digit health number become stars."""
    return _TEN_DIGITS.sub("[NUMBER]", _TOKENS.sub("[SECRET]", text))


class PrivacyFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for key in DROPPED & set(vars(record)):
            setattr(record, key, "[dropped]")
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if record.args:
            record.args = tuple(redact(str(a)) for a in (
                record.args if isinstance(record.args, tuple) else (record.args,)))
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
                 "level": record.levelname, "logger": record.name, "msg": record.getMessage()}
        request_id = _REQUEST_ID.get()
        if request_id is not None:
            entry["request_id"] = request_id
        entry.update({k: v for k, v in vars(record).items()
                      if k not in _STANDARD and k not in DROPPED})
        if record.exc_info:
            entry["traceback"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)


def configure(level: str = "WARNING") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(PrivacyFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("slack_bolt", "slack_sdk", "alembic", "sqlalchemy"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
