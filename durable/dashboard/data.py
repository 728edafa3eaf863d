"""The one place the dashboard reads and drives the Client: its answers become `models`.

Only the Client's public methods are used, and only here, so a change in their shapes is
absorbed by this module alone.
"""

from __future__ import annotations

import asyncio
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
from durable.types import JSONDict

PAGE_SIZE = 25
HISTORY_SIZE = 100  # the latest steps, events and logs of a run shown on its page
ACTIONS = ("pause", "resume", "terminate", "restart", "retry-failed-step")


def error_text(error: Any) -> str | None:
    """`{name, message}` as one line: 'RuntimeError: card declined'."""
    if not isinstance(error, dict):
        return None
    name, message = error.get("name"), error.get("message")
    return f"{name}: {message}" if name and message else str(name or message or "error")


class DashboardData:
    def __init__(self, client: Client) -> None:
        self.client = client

    async def workflows(self) -> list[WorkflowCounts]:
        names = [str(item["name"]) for item in self.client.list_workflows()]
        return list(await asyncio.gather(*(self.counts(name) for name in names)))

    async def counts(self, workflow: str) -> WorkflowCounts:
        return WorkflowCounts(workflow, await self.client.counts(workflow))

    async def instances(
        self, workflow: str, *, status: str | None, cursor: str | None
    ) -> InstancePage:
        page = await self.client.list_instances(
            workflow, status=status, page_size=PAGE_SIZE, cursor=cursor
        )
        rows = tuple(_row(item) for item in page["instances"])
        counts = await self.counts(workflow)
        return InstancePage(workflow, status, rows, page.get("nextCursor"), counts)

    async def instance(self, workflow: str, instance_id: str, run: int | None) -> InstanceView:
        answer = await self.client.get(workflow, instance_id)
        history = await self.client.history(
            workflow, instance_id, run_number=run, page_size=HISTORY_SIZE, include_logs=True
        )
        details, meta = answer["details"], answer["meta"]
        return InstanceView(
            workflow=workflow,
            id=str(answer["id"]),
            status=str(details["status"]),
            run_number=int(details.get("runNumber", 0)),
            params=meta.get("params"),
            output=details.get("output"),
            has_output="output" in details,
            error=error_text(details.get("error")),
            pause_requested=bool(meta.get("pauseRequested")),
            version=meta.get("version"),
            created_at=meta.get("createdAt"),
            updated_at=meta.get("updatedAt"),
            started_at=meta.get("startedAt"),
            completed_at=meta.get("completedAt"),
            timeline=_timeline(history),
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


def _row(item: JSONDict) -> InstanceRow:
    details = item["details"]
    return InstanceRow(
        id=str(item["id"]),
        status=str(details["status"]),
        run_number=int(details.get("runNumber", 0)),
        created_at=item.get("createdAt"),
        updated_at=item.get("updatedAt"),
        error=error_text(details.get("error")),
    )


def _timeline(history: JSONDict) -> Timeline:
    """History pages come newest first; the timeline reads oldest first."""
    return Timeline(
        run_number=int(history["runNumber"]),
        steps=tuple(_step(entry) for entry in reversed(history["steps"])),
        events=tuple(_event(entry) for entry in reversed(history["events"])),
        logs=tuple(_log(entry) for entry in reversed(history.get("logs", []))),
        earlier_steps=bool(history.get("stepsHasNextPage")),
        earlier_events=bool(history.get("eventsHasNextPage")),
        earlier_logs=bool(history.get("logsHasNextPage")),
    )


def _step(entry: JSONDict) -> StepView:
    failures = tuple(
        Failure(item.get("attempt"), item.get("at"), error_text(item.get("error")) or "")
        for item in entry.get("failedAttempts") or []
    )
    return StepView(
        key=str(entry["stepKey"]),
        name=str(entry.get("name") or entry["stepKey"]),
        type=str(entry.get("type") or ""),
        status=str(entry.get("status") or ""),
        attempts=int(entry.get("attempts") or 0),
        max_attempts=int(entry.get("maxAttempts") or 1),
        created_at=entry.get("createdAt"),
        updated_at=entry.get("updatedAt"),
        next_retry_at=entry.get("nextRetryAt"),
        wake_at=entry.get("wakeAt"),
        wait_event_type=entry.get("waitEventType"),
        result=entry.get("result"),
        error=error_text(entry.get("error")),
        failures=failures,
        failures_total=int(entry.get("failedAttemptsTotal") or len(failures)),
    )


def _event(entry: JSONDict) -> EventView:
    return EventView(
        id=str(entry.get("id")),
        type=str(entry.get("type")),
        payload=entry.get("payload"),
        created_at=entry.get("createdAt"),
        delivered_at=entry.get("deliveredAt"),
        consumed_by=entry.get("consumedByStepKey"),
    )


def _log(entry: JSONDict) -> LogView:
    return LogView(
        level=str(entry.get("level") or "info"),
        category=str(entry.get("category") or "workflow"),
        message=str(entry.get("message") or ""),
        data=entry.get("data"),
        step_key=entry.get("stepKey"),
        attempt=entry.get("attempt"),
        created_at=entry.get("createdAt"),
    )
