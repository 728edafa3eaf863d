"""What the dashboard's pages show, in its own shapes (built from the Client by `data.py`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from durable.types import TERMINAL_STATUSES, Status

STATUSES: tuple[str, ...] = tuple(status.value for status in Status)
TERMINAL: frozenset[str] = frozenset(status.value for status in TERMINAL_STATUSES)


@dataclass(frozen=True)
class WorkflowCounts:
    name: str
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class InstanceRow:
    id: str
    status: str
    run_number: int
    created_at: str | None
    updated_at: str | None
    error: str | None


@dataclass(frozen=True)
class InstancePage:
    workflow: str
    status: str | None
    rows: tuple[InstanceRow, ...]
    next_cursor: str | None
    counts: WorkflowCounts


@dataclass(frozen=True)
class Failure:
    """One failed attempt of a step."""

    attempt: int | None
    at: str | None
    error: str


@dataclass(frozen=True)
class StepView:
    key: str
    name: str
    type: str
    status: str
    attempts: int
    max_attempts: int
    created_at: str | None
    updated_at: str | None
    next_retry_at: str | None
    wake_at: str | None
    wait_event_type: str | None
    result: Any
    error: str | None
    failures: tuple[Failure, ...]
    failures_total: int
    child: tuple[str, str] | None = None  # an invoke step's child: (workflow, id)

    @property
    def failures_dropped(self) -> int:
        """Failed attempts older than the ones kept on the step."""
        return max(0, self.failures_total - len(self.failures))


@dataclass(frozen=True)
class EventView:
    id: str
    type: str
    payload: Any
    created_at: str | None
    delivered_at: str | None
    consumed_by: str | None


@dataclass(frozen=True)
class LogView:
    level: str
    category: str
    message: str
    data: Any
    step_key: str | None
    attempt: int | None
    created_at: str | None


@dataclass(frozen=True)
class Timeline:
    """One run's steps, events and logs (the latest of each, oldest first)."""

    run_number: int
    steps: tuple[StepView, ...]
    events: tuple[EventView, ...]
    logs: tuple[LogView, ...]
    earlier_steps: bool
    earlier_events: bool
    earlier_logs: bool


@dataclass(frozen=True)
class InstanceView:
    workflow: str
    id: str
    status: str
    run_number: int
    params: Any
    output: Any
    has_output: bool
    error: str | None
    pause_requested: bool
    version: str | None
    created_at: str | None
    updated_at: str | None
    started_at: str | None
    completed_at: str | None
    timeline: Timeline
    parent: tuple[str, str] | None = None  # the instance that started it: (workflow, id)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def viewing_current_run(self) -> bool:
        return self.timeline.run_number == self.run_number
