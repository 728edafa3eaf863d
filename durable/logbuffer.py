"""The log lines of one execution, held until its next write carries them to Redis in the same
round trip (a step's outcome, a wait, a suspension or the run's end)."""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from durable.records import LogRecord
from durable.types import LogLevel

# The step attempt whose code is running (its key and attempt), None in workflow code.
_current_step: contextvars.ContextVar[tuple[str, int] | None] = contextvars.ContextVar(
    "durable_current_step", default=None
)


class LogBuffer:
    """Workflow-level lines are logged again by every pass over the same code: the run counts
    the ones written (`recorded`), and a pass writes only those past that count. Lines logged
    inside a step belong to its attempt, which runs once."""

    def __init__(self, now: Callable[[], int], recorded: int) -> None:
        self._now = now
        self._lines: list[str] = []
        self._workflow_pending = 0  # workflow-level lines among _lines
        self._workflow_seen = 0  # workflow-level lines this pass has logged
        self._workflow_recorded = recorded

    def log(self, level: LogLevel, message: str, data: Any, category: str) -> None:
        current = _current_step.get()
        if current is None:
            self._workflow_seen += 1
            if self._workflow_seen <= self._workflow_recorded:
                return  # written by an earlier pass over the same code
            self._workflow_pending += 1
        key, attempt = current if current else (None, None)
        self.append(key, attempt, level, category, message, data)

    def append(
        self,
        key: str | None,
        attempt: int | None,
        level: LogLevel,
        category: str,
        message: Any,
        data: Any,
    ) -> None:
        line = LogRecord(
            level=level, message=str(message), data=data, category=category, step_key=key,
            attempt=attempt, created_at_ms=self._now(),
        )  # fmt: skip
        self._lines.append(line.encode())

    def take(self) -> tuple[str, int]:
        """The buffered lines (one per line of text) and how many are workflow-level; the
        buffer is empty afterwards."""
        lines, count = self._lines, self._workflow_pending
        self._lines, self._workflow_pending = [], 0
        return "\n".join(lines), count


@contextmanager
def in_step(key: str, attempt: int) -> Iterator[None]:
    """Lines logged by the code inside belong to this step attempt."""
    token = _current_step.set((key, attempt))
    try:
        yield
    finally:
        _current_step.reset(token)
