"""Process-wide logging for the services: text or JSON lines on stderr, one format for all.

`configure` sets up the root logger once per process; every library's logger (uvicorn's access
and error logs, arq's, redis-py's, Python's warnings) propagates to it, so each line a service
writes has the same shape. The runner binds the instance it is advancing with `bound`, and
each line logged meanwhile carries its workflow, instance and run.

The engine imports this module for `bound` only: it uses nothing but the standard library.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TextIO

LEVELS = ("debug", "info", "warning", "error", "critical")
FORMATS = ("text", "json")
DEFAULT_LEVEL = "info"
DEFAULT_FORMAT = "text"
CONTEXT_FIELDS = ("workflow", "instance", "run", "step")
# arq logs two lines per job at INFO (7-14% of a worker's throughput); httpx one per request.
QUIET_AT_INFO = ("arq.worker", "httpx")

context: ContextVar[Mapping[str, Any] | None] = ContextVar("durable_log_context", default=None)
_format = DEFAULT_FORMAT


@contextmanager
def bound(**fields: Any) -> Iterator[None]:
    """Add `fields` (workflow, instance, run, step) to every line logged inside the block."""
    outer = context.get()
    token = context.set({**outer, **fields} if outer else fields)
    try:
        yield
    finally:
        context.reset(token)


def fields_of(record: logging.LogRecord) -> dict[str, Any]:
    """The context fields of a record: the bound ones, overridden by `extra={...}` ones."""
    found = dict(context.get() or {})
    for name in CONTEXT_FIELDS:
        value = getattr(record, name, None)
        if value is not None:
            found[name] = value
    return found


def iso_time(created: float) -> str:
    """ISO-8601 UTC with milliseconds, as the API writes timestamps: 2026-02-02T15:52:06.284Z."""
    whole = int(created)
    millis = int((created - whole) * 1000)
    return f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(whole))}.{millis:03d}Z"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the context fields, exc."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": iso_time(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(fields_of(record))
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        elif record.stack_info:
            line["exc"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """`<time> <LEVEL> <logger>: <message> [workflow/instance run N step S]`."""

    def format(self, record: logging.LogRecord) -> str:
        text = (
            f"{iso_time(record.created)} {record.levelname:<7} {record.name}: "
            f"{record.getMessage()}{_context_suffix(fields_of(record))}"
        )
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        elif record.stack_info:
            text += "\n" + self.formatStack(record.stack_info)
        return text


def _context_suffix(fields: Mapping[str, Any]) -> str:
    if not fields:
        return ""
    where = "/".join(str(fields[k]) for k in ("workflow", "instance") if k in fields)
    parts = [where] if where else []
    parts += [f"{k} {fields[k]}" for k in ("run", "step") if k in fields]
    return f" [{' '.join(parts)}]"


def level_number(level: str) -> int:
    if level.lower() not in LEVELS:
        raise ValueError(f"unknown log level {level!r}; use one of {', '.join(LEVELS)}")
    return int(getattr(logging, level.upper()))


def configure(
    level: str = DEFAULT_LEVEL, fmt: str = DEFAULT_FORMAT, stream: TextIO | None = None
) -> None:
    """Route every logger of this process to one stderr handler in `fmt` at `level`."""
    global _format
    if fmt not in FORMATS:
        raise ValueError(f"unknown log format {fmt!r}; use one of {', '.join(FORMATS)}")
    number = level_number(level)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(number)
    quiet = number if number == logging.DEBUG else max(number, logging.WARNING)
    for name in QUIET_AT_INFO:
        logging.getLogger(name).setLevel(quiet)
    logging.captureWarnings(True)
    _format = fmt


def configured_format() -> str:
    """The format `configure` last set ("text" before any call)."""
    return _format


def is_configured() -> bool:
    return bool(logging.getLogger().handlers)


def configure_from_env() -> None:
    """`configure` with DURABLE_LOG_LEVEL and DURABLE_LOG_FORMAT (for services started from
    Python rather than the command line)."""
    from durable.errors import ConfigurationError

    level = os.environ.get("DURABLE_LOG_LEVEL") or DEFAULT_LEVEL
    fmt = os.environ.get("DURABLE_LOG_FORMAT") or DEFAULT_FORMAT
    try:
        configure(level.lower(), fmt.lower())
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from exc
