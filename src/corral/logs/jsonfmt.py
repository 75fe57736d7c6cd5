"""``--log-format json``: one JSON object per line (time, level, logger, message, and the
exception's traceback when there is one), encoded by msgspec."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import msgspec

_encoder = msgspec.json.Encoder()


def record_fields(record: logging.LogRecord, exception: str | None) -> dict[str, object]:
    """What a JSON line carries for ``record`` (pure; ``exception``: its formatted text)."""
    out: dict[str, object] = {
        "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
        "level": record.levelname,
        "logger": record.name,
        "message": record.getMessage(),
    }
    if exception:
        out["exception"] = exception
    return out


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        exception = None
        if record.exc_info:
            exception = self.formatException(record.exc_info)
        elif record.exc_text:
            exception = record.exc_text
        if record.stack_info:
            exception = f"{exception}\n{record.stack_info}" if exception else record.stack_info
        return _encoder.encode(record_fields(record, exception)).decode()


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def formatter(kind: str) -> logging.Formatter:
    """The formatter for ``--log-format`` ``text`` or ``json``."""
    if kind == "json":
        return JsonFormatter()
    if kind == "text":
        return logging.Formatter(TEXT_FORMAT)
    raise ValueError(f"unknown log format {kind!r} (known: text, json)")
