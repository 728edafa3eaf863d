"""Shared vocabulary: statuses, step types and type aliases."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, TypeAlias

JSON: TypeAlias = Any
JSONDict: TypeAlias = dict[str, Any]


class Status(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    WAITING = "waiting"
    PAUSED = "paused"
    COMPLETE = "complete"
    ERRORED = "errored"
    TERMINATED = "terminated"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset({Status.COMPLETE, Status.ERRORED, Status.TERMINATED})


class StepType(StrEnum):
    DO = "do"
    SLEEP = "sleep"
    WAIT_FOR_EVENT = "waitForEvent"
    PATCH = "patch"  # the marker step.patched() records
    INVOKE = "invoke"  # step.invoke and step.start: a child workflow


class StepStatus(StrEnum):
    RUNNING = "running"
    WAITING = "waiting"
    COMPLETED = "completed"
    ERRORED = "errored"


class LogLevel(StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARN = "warn"
    ERROR = "error"
