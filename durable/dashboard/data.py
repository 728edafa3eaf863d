"""The one place the dashboard reads and drives the Client: its answers become `models`.

Only the Client's public methods are used, and only here, so a change in their shapes is
absorbed by this module alone.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from durable.client import Client
from durable.dashboard.models import (
    EventView,
    Failure,
    InstancePage,
    InstanceRow,
    InstanceView,
    LogView,
    StepView,
    Timeline,
    WorkflowCounts,
)
from durable.models import (
    MISSING,
    ErrorInfo,
    EventEntry,
    History,
    ListedInstance,
    LogEntry,
    StepEntry,
    iso_ms,
)

PAGE_SIZE = 25
HISTORY_SIZE = 100  # the latest steps, events and logs of a run shown on its page
ACTIONS = ("pause", "resume", "terminate", "restart", "retry-failed-step")


def error_text(error: ErrorInfo | None) -> str | None:
    """`{name, message}` as one line: 'RuntimeError: card declined'."""
    if error is None:
        return None
    name, message = error.name, error.message
    return f"{name}: {message}" if name and message else str(name or message or "error")


def _iso(value: datetime | None) -> str | None:
    return None if value is None else iso_ms(value)


class DashboardData:
    def __init__(self, client: Client) -> None:
        self.client = client

    async def workflows(self) -> list[WorkflowCounts]:
        names = [item.name for item in self.client.list_workflows()]
        return list(await asyncio.gather(*(self.counts(name) for name in names)))

    async def counts(self, workflow: str) -> WorkflowCounts:
        return WorkflowCounts(workflow, await self.client.counts(workflow))

    async def instances(
        self, workflow: str, *, status: str | None, cursor: str | None
    ) -> InstancePage:
        page = await self.client.list_instances(
            workflow, status=status, page_size=PAGE_SIZE, cursor=cursor
        )
        rows = tuple(_row(item) for item in page.instances)
        counts = await self.counts(workflow)
        return InstancePage(workflow, status, rows, page.next_cursor, counts)

    async def instance(self, workflow: str, instance_id: str, run: int | None) -> InstanceView:
        answer = await self.client.get(workflow, instance_id)
        history = await self.client.history(
            workflow, instance_id, run_number=run, page_size=HISTORY_SIZE, include_logs=True
        )
        details, meta = answer.details, answer.meta
        has_output = details.output is not MISSING
        return InstanceView(
            workflow=workflow,
            id=answer.id,
            status=str(details.status),
            run_number=details.run_number,
            params=meta.params,
            output=details.output if has_output else None,
            has_output=has_output,
            error=error_text(details.error),
            pause_requested=meta.pause_requested,
            version=meta.version,
            created_at=_iso(meta.created_at),
            updated_at=_iso(meta.updated_at),
            started_at=_iso(meta.started_at),
            completed_at=_iso(meta.completed_at),
            timeline=_timeline(history),
            parent=(meta.parent.workflow, meta.parent.id) if meta.parent else None,
        )

    async def control(self, action: str, workflow: str, instance_id: str, key: str | None) -> None:
        """Run one of ACTIONS; `key` makes a repeated submit act once."""
        if action == "retry-failed-step":
            await self.client.retry_failed_step(workflow, instance_id, idempotency_key=key)
            return
        calls = {
            "pause": self.client.pause,
            "resume": self.client.resume,
            "terminate": self.client.terminate,
            "restart": self.client.restart,
        }
        await calls[action](workflow, instance_id, idempotency_key=key)

    async def send_event(
        self, workflow: str, instance_id: str, type: str, payload: Any, event_id: str | None
    ) -> None:
        await self.client.send_event(
            workflow, instance_id, type=type, payload=payload, event_id=event_id
        )


def _row(item: ListedInstance) -> InstanceRow:
    details = item.details
    return InstanceRow(
        id=item.id,
        status=str(details.status),
        run_number=details.run_number,
        created_at=_iso(item.created_at),
        updated_at=_iso(item.updated_at),
        error=error_text(details.error),
    )


def _timeline(history: History) -> Timeline:
    """History pages come newest first; the timeline reads oldest first."""
    return Timeline(
        run_number=history.run_number,
        steps=tuple(_step(entry) for entry in reversed(history.steps)),
        events=tuple(_event(entry) for entry in reversed(history.events)),
        logs=tuple(_log(entry) for entry in reversed(history.logs or [])),
        earlier_steps=history.steps_has_next_page,
        earlier_events=history.events_has_next_page,
        earlier_logs=bool(history.logs_has_next_page),
    )


def _step(entry: StepEntry) -> StepView:
    failures = tuple(
        Failure(item.attempt, _iso(item.at), error_text(item.error) or "")
        for item in entry.failed_attempts
    )
    return StepView(
        key=entry.step_key,
        name=entry.name or entry.step_key,
        type=str(entry.type),
        status=str(entry.status),
        attempts=entry.attempts,
        max_attempts=entry.max_attempts,
        created_at=_iso(entry.created_at),
        updated_at=_iso(entry.updated_at),
        next_retry_at=_iso(entry.next_retry_at),
        wake_at=_iso(entry.wake_at),
        wait_event_type=entry.wait_event_type,
        result=entry.result,
        error=error_text(entry.error),
        failures=failures,
        child=(entry.child.workflow, entry.child.id) if entry.child else None,
        failures_total=entry.failed_attempts_total or len(failures),
    )


def _event(entry: EventEntry) -> EventView:
    return EventView(
        id=str(entry.id),
        type=entry.type,
        payload=entry.payload,
        created_at=_iso(entry.created_at),
        delivered_at=_iso(entry.delivered_at),
        consumed_by=entry.consumed_by_step_key,
    )


def _log(entry: LogEntry) -> LogView:
    return LogView(
        level=str(entry.level),
        category=entry.category,
        message=entry.message,
        data=entry.data,
        step_key=entry.step_key,
        attempt=entry.attempt,
        created_at=_iso(entry.created_at),
    )
