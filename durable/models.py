"""What the Client returns and the HTTP API serves: one set of pydantic models for both.

Attributes are snake_case (`inst.details.run_number`); the JSON names are their camelCase
aliases (`model_dump(mode="json", by_alias=True)` is the API's body, and the OpenAPI document's
schemas are generated from these models). Two rules keep the wire format exact:

- a field made with `omitted(...)` is left out of the JSON when it is None (cursors, `error`,
  `currentStep`, ...): it is never `null`;
- `Details.output` is `MISSING` (pydantic's sentinel) until the instance completes, and left out
  of the JSON then; a workflow that returned None has `output` None, served as `null`.

Every other field is always present; those typed `... | None` are served as `null`.
Timestamps are aware UTC datetimes, served as ISO-8601 with milliseconds
(`2026-02-02T15:52:06.284Z`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import MISSING, BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema
from pydantic.alias_generators import to_camel
from pydantic.json_schema import SkipJsonSchema

from durable.types import LogLevel, Status, StepStatus, StepType


def iso_ms(value: datetime) -> str:
    """An aware datetime as the API writes it: UTC, milliseconds, 'Z'."""
    utc = value.astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"


Timestamp = Annotated[
    datetime,
    PlainSerializer(iso_ms, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


class Model(BaseModel):
    """Frozen; built from camelCase JSON names or snake_case attribute names alike."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        field_title_generator=lambda name, _info: to_camel(name),  # schema titles: JSON names
        validate_by_name=True,
        validate_by_alias=True,
        frozen=True,
    )


def _is_none(value: Any) -> bool:
    return value is None


def _drop_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def omitted(description: str) -> Any:
    """A field left out of the JSON when it is None (declare it `T | SkipJsonSchema[None]`, so
    the schema says: absent or a T, never null)."""
    return Field(
        None, description=description, exclude_if=_is_none, json_schema_extra=_drop_default
    )


class ErrorInfo(Model):
    name: str
    message: str


class Details(Model):
    status: Status
    run_number: int
    error: ErrorInfo | SkipJsonSchema[None] = omitted("Present when the instance errored.")
    output: Any = Field(
        MISSING,
        description="The workflow's return value; present once the instance is complete.",
    )


class InstanceSummary(Model):
    id: str
    details: Details


class ListedInstance(InstanceSummary):
    params: Any
    created_at: Timestamp
    updated_at: Timestamp


class InstancePage(Model):
    instances: list[ListedInstance] = Field(description="Newest first.")
    cursor: str | SkipJsonSchema[None] = omitted(
        "The next page's cursor (pass it back as `cursor`); absent on the last page."
    )
    next_cursor: str | SkipJsonSchema[None] = omitted(
        "The same value as `cursor`; absent on the last page."
    )
    has_next_page: bool


class InstanceRef(Model):
    workflow: str
    id: str


class FailedAttempt(Model):
    attempt: int = Field(description="The attempt number (1 for the first attempt).")
    error: ErrorInfo
    at: Timestamp = Field(description="When the attempt failed.")


class StepFields(Model):
    step_key: str
    name: str
    type: StepType
    status: StepStatus
    attempts: int
    max_attempts: int
    timeout_ms: int | None
    next_retry_at: Timestamp | None
    wake_at: Timestamp | None
    wait_event_type: str | None
    failed_attempts: list[FailedAttempt] = Field(
        description="The step's failed attempts, oldest first: the latest 20 at most "
        "(error messages cut to 500 characters). Includes the final failure of an errored step."
    )
    failed_attempts_total: int = Field(
        description="How many attempts of the step failed in all; more than the length of "
        "failedAttempts once older failures were dropped."
    )
    error: ErrorInfo | SkipJsonSchema[None] = omitted("Present when the step errored.")
    child: InstanceRef | SkipJsonSchema[None] = omitted(
        "The child instance of an `invoke` step (step.invoke, step.start); absent otherwise."
    )


class CurrentStep(StepFields):
    """The latest step of the instance's run."""


class StepEntry(StepFields):
    result: Any
    created_at: Timestamp
    updated_at: Timestamp


class WaitingFor(Model):
    """What a queued instance waits behind: a limit of its workflow (docs/semantics.md,
    "Concurrency and rate limits")."""

    limit: Literal["concurrency", "rateLimit"] = Field(
        description="`concurrency`: the most instances active at once are active; `rateLimit`: "
        "the most instance starts of the period have started."
    )
    key: str | None = Field(description="The limit's key (a params field path); null: none.")
    value: Any = Field(description="The key's value in this instance's params (null: missing).")


class Meta(Model):
    workflow_name: str
    version: str | None = Field(
        description="The code version (`@workflow(version=...)`) that created the instance; "
        "null when the workflow names none. A restart keeps it."
    )
    run_number: int
    params: Any
    pause_requested: bool
    created_at: Timestamp
    updated_at: Timestamp
    started_at: Timestamp | None
    completed_at: Timestamp | None
    parent: InstanceRef | SkipJsonSchema[None] = omitted(
        "The instance whose step.invoke or step.start started this one; absent otherwise."
    )
    current_step: CurrentStep | SkipJsonSchema[None] = omitted(
        "The latest step of the run; absent before the first step."
    )
    waiting_for: WaitingFor | SkipJsonSchema[None] = omitted(
        "Present while the instance is queued behind a concurrency or rate limit of its workflow."
    )


class Instance(InstanceSummary):
    meta: Meta


class EventEntry(Model):
    id: str | None
    type: str
    payload: Any
    created_at: Timestamp
    delivered_at: Timestamp | None
    consumed_by_step_key: str | None


class LogEntry(Model):
    id: str
    step_key: str | None
    attempt: int | None
    level: LogLevel
    category: str
    message: str
    data: Any
    created_at: Timestamp


class History(Model):
    run_number: int
    steps: list[StepEntry]
    steps_cursor: str | SkipJsonSchema[None] = omitted(
        "Pass as stepsCursor for the next page; absent when there is none."
    )
    steps_has_next_page: bool
    events: list[EventEntry]
    events_cursor: str | SkipJsonSchema[None] = omitted(
        "Pass as eventsCursor for the next page; absent when there is none."
    )
    events_has_next_page: bool
    logs: list[LogEntry] | SkipJsonSchema[None] = omitted(
        "Only with includeLogs=true; filtered by logLevel and logCategory."
    )
    logs_cursor: str | SkipJsonSchema[None] = omitted(
        "Pass as logsCursor (with the same filters) for the next page; absent when there is none."
    )
    logs_has_next_page: bool | SkipJsonSchema[None] = omitted("Only with includeLogs=true.")


class EventAccepted(Model):
    accepted: Literal[True]
    status: Details = Field(description="The instance's details before the event.")


class RetryInfo(Model):
    step_key: str | SkipJsonSchema[None] = omitted("The re-opened step; absent on a replay.")
    attempts: int | SkipJsonSchema[None] = omitted("Absent on a replay.")
    max_attempts: int | SkipJsonSchema[None] = omitted("Absent on a replay.")
    scheduled_at: Timestamp
    replay: bool = Field(
        description="True when the run had failed with NondeterminismError: no step is "
        "re-opened; the instance is queued to replay its recorded steps with the deployed code."
    )


class RetryAccepted(Model):
    accepted: Literal[True]
    instance: InstanceSummary
    retry: RetryInfo


class QueueDepth(Model):
    """Jobs in the queue: `due` by now and not started, `scheduled` for later."""

    due: int
    scheduled: int


class WorkflowSummary(Model):
    name: str


class ScheduleEntry(Model):
    """A schedule of a workflow (docs/semantics.md, "Schedules")."""

    id: str
    workflow: str
    cron: str | SkipJsonSchema[None] = omitted("The cron expression; absent for `every`.")
    every: str | SkipJsonSchema[None] = omitted("The interval; absent for `cron`.")
    timezone: str = Field(description="The IANA time zone cron reads its fields in.")
    params: Any = Field(description="The params of every instance it starts.")
    paused: bool
    overlap: Literal["skip", "allow"]
    catchup: Literal["latest", "all", "none"]
    next_run_at: Timestamp = Field(description="The next regular tick from now.")
    last_run_at: Timestamp | SkipJsonSchema[None] = omitted(
        "The tick of the last instance it started; absent before the first."
    )
    last_instance_id: str | SkipJsonSchema[None] = omitted(
        "The last instance it started; absent before the first."
    )
    created_at: Timestamp


class ScheduleList(Model):
    schedules: list[ScheduleEntry] = Field(description="Every schedule of the workflow, by id.")


class BulkResult(Model):
    """What a bulk action did: `matched` instances were selected (those that exist, in the
    status asked for), `changed` of them were acted on, `skipped` = matched - changed (the
    action did not apply to them: already ended, not errored, ...)."""

    matched: int
    changed: int
    skipped: int


__all__ = [
    "MISSING",
    "BulkResult",
    "CurrentStep",
    "Details",
    "ErrorInfo",
    "EventAccepted",
    "EventEntry",
    "FailedAttempt",
    "History",
    "Instance",
    "InstancePage",
    "InstanceSummary",
    "ListedInstance",
    "LogEntry",
    "Meta",
    "Model",
    "RetryAccepted",
    "RetryInfo",
    "ScheduleEntry",
    "ScheduleList",
    "StepEntry",
    "WorkflowSummary",
    "iso_ms",
    "omitted",
]
