"""Structured logs that never carry what people typed, message bodies or secrets."""

from __future__ import annotations

import json
import logging
import re
import sys

DROPPED = frozenset({"text", "body", "value", "blocks", "view", "state", "answers", "headers"})
_STANDARD = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}
_TOKENS = re.compile(r"\b(xox[abprs]-[\w-]+|eyJ[\w-]+\.[\w-]+\.[\w-]+|Bearer\s+\S+)")
_TEN_DIGITS = re.compile(r"\b\d{3}[ -]?\d{3}[ -]?\d{4}\b")


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
        entry = {"level": record.levelname, "logger": record.name, "msg": record.getMessage()}
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
