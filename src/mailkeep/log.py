"""Logging: one line per event on stderr, key=value (default) or JSON.

Every connection gets an id in a context variable; the formatter adds it (and the peer and
account when known) to every line logged while handling that connection. Passwords and
message bodies are never passed to a logger (DESIGN 3.13).
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
from typing import Any

conn_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("conn_id", default=None)
peer: contextvars.ContextVar[str | None] = contextvars.ContextVar("peer", default=None)
account: contextvars.ContextVar[str | None] = contextvars.ContextVar("account", default=None)

_RESERVED = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        + f".{int(record.msecs):03d}Z",
        "level": record.levelname.lower(),
        "logger": record.name,
    }
    for name, var in (("conn", conn_id), ("peer", peer), ("account", account)):
        value = var.get()
        if value is not None:
            fields[name] = value
    fields["msg"] = record.getMessage()
    for key, value in vars(record).items():
        if key not in _RESERVED and not key.startswith("_"):
            fields[key] = value
    if record.exc_info:
        fields["exc"] = logging.Formatter().formatException(record.exc_info)
    return fields


def _quote(value: Any) -> str:
    text = str(value)
    if text and not any(c in text for c in ' ="\n\\') and text.isprintable():
        return text
    return json.dumps(text, ensure_ascii=False)


class KeyValueFormatter(logging.Formatter):
    """``ts=... level=info logger=mailkeep.net msg="..." conn=1f3a peer=127.0.0.1:5151``."""

    def format(self, record: logging.LogRecord) -> str:
        return " ".join(f"{k}={_quote(v)}" for k, v in _fields(record).items())


class JSONFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(_fields(record), ensure_ascii=False, default=str)


def setup_logging(fmt: str = "keyvalue", level: str = "info") -> None:
    """Send every mailkeep log line to stderr in the chosen format."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JSONFormatter() if fmt == "json" else KeyValueFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
