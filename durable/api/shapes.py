"""Response shapes of SPEC §5, as pydantic models used only to document them in OpenAPI.

Field names are the JSON (camelCase) names. The Client already returns these shapes as plain
dicts; routes pass them through unchanged.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from durable.types import LogLevel, Status, StepStatus, StepType


class Shape(BaseModel):
    pass


class ErrorIssue(Shape):
    path: str
    message: str


class Error(Shape):
    message: str
    code: str
    issues: list[ErrorIssue] | None = Field(None, description="Present on validation errors.")


class WorkflowSummary(Shape):
    name: str


class WorkflowList(Shape):
    workflows: list[WorkflowSummary]


class ErrorInfo(Shape):
    name: str
    message: str


class Details(Shape):
    status: Status
    runNumber: int
    error: ErrorInfo | None = Field(None, description="Present when the instance errored.")
    output: Any = Field(None, description="The workflow's return value, once complete.")


class InstanceRef(Shape):
    id: str
    details: Details


class InstanceSummary(InstanceRef):
    params: Any
    createdAt: datetime
    updatedAt: datetime


class BatchCreated(Shape):
    instances: list[InstanceRef] = Field(description="Only the created ones, in input order.")


def _drop_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def omitted_when_absent(description: str) -> Any:
    """A field that is left out of the JSON when it has no value (never `null`)."""
    return Field(None, description=description, json_schema_extra=_drop_default)


class InstancePage(Shape):
    instances: list[InstanceSummary] = Field(description="Newest first.")
    cursor: str | SkipJsonSchema[None] = omitted_when_absent(
        "The next page's cursor (pass it back as `cursor`); absent on the last page."
    )
    nextCursor: str | SkipJsonSchema[None] = omitted_when_absent(
        "The same value as `cursor`; absent on the last page."
    )
    hasNextPage: bool


class FailedAttempt(Shape):
    attempt: int = Field(description="The attempt number (1 for the first attempt).")
    error: ErrorInfo
    at: datetime = Field(description="When the attempt failed.")


class StepFields(Shape):
    stepKey: str
    name: str
    type: StepType
    status: StepStatus
    attempts: int
    maxAttempts: int
    timeoutMs: int | None
    nextRetryAt: datetime | None
    wakeAt: datetime | None
    waitEventType: str | None
    failedAttempts: list[FailedAttempt] = Field(
        description="The step's failed attempts, oldest first: the latest 20 at most "
        "(error messages cut to 500 characters). Includes the final failure of an errored step."
    )
    failedAttemptsTotal: int = Field(
        description="How many attempts of the step failed in all; more than the length of "
        "failedAttempts once older failures were dropped."
    )
    error: ErrorInfo | None = None


class CurrentStep(StepFields):
    pass


class Meta(Shape):
    workflowName: str
    version: str | None = Field(
        description="The code version (`@workflow(version=...)`) that created the instance; "
        "null when the workflow names none. A restart keeps it."
    )
    runNumber: int
    params: Any
    pauseRequested: bool
    createdAt: datetime
    updatedAt: datetime
    startedAt: datetime | None
    completedAt: datetime | None
    currentStep: CurrentStep | None = None


class Instance(InstanceRef):
    meta: Meta


class StepEntry(StepFields):
    result: Any
    createdAt: datetime
    updatedAt: datetime


class EventEntry(Shape):
    id: str | None
    type: str
    payload: Any
    createdAt: datetime
    deliveredAt: datetime | None
    consumedByStepKey: str | None


class LogEntry(Shape):
    id: str
    stepKey: str | None
    attempt: int | None
    level: LogLevel
    category: str
    message: str
    data: Any
    createdAt: datetime


class History(Shape):
    runNumber: int
    steps: list[StepEntry]
    stepsCursor: str | SkipJsonSchema[None] = omitted_when_absent(
        "Pass as stepsCursor for the next page; absent when there is none."
    )
    stepsHasNextPage: bool
    events: list[EventEntry]
    eventsCursor: str | SkipJsonSchema[None] = omitted_when_absent(
        "Pass as eventsCursor for the next page; absent when there is none."
    )
    eventsHasNextPage: bool
    logs: list[LogEntry] | SkipJsonSchema[None] = omitted_when_absent(
        "Only with includeLogs=true; filtered by logLevel and logCategory."
    )
    logsCursor: str | SkipJsonSchema[None] = omitted_when_absent(
        "Pass as logsCursor (with the same filters) for the next page; absent when there is none."
    )
    logsHasNextPage: bool | SkipJsonSchema[None] = omitted_when_absent(
        "Only with includeLogs=true."
    )


class EventAccepted(Shape):
    accepted: Literal[True]
    status: Details = Field(description="The instance's details before the event.")


class Ok(Shape):
    ok: Literal[True]


class RetryInfo(Shape):
    stepKey: str | SkipJsonSchema[None] = omitted_when_absent(
        "The re-opened step; absent on a replay."
    )
    attempts: int | SkipJsonSchema[None] = omitted_when_absent("Absent on a replay.")
    maxAttempts: int | SkipJsonSchema[None] = omitted_when_absent("Absent on a replay.")
    scheduledAt: datetime
    replay: bool = Field(
        description="True when the run had failed with NondeterminismError: no step is "
        "re-opened; the instance is queued to replay its recorded steps with the deployed code."
    )


class RetryAccepted(Shape):
    accepted: Literal[True]
    instance: InstanceRef
    retry: RetryInfo


class TickResult(Shape):
    processed: int


class Health(Shape):
    ok: bool
    redis: Literal["up", "down"]
    code: str | None = Field(None, description="SERVICE_UNAVAILABLE when Redis is down.")
    message: str | None = None


class OpenAPIDocument(Shape):
    model_config = ConfigDict(extra="allow")
    openapi: str


RESPONSE_MODELS: tuple[type[Shape], ...] = (
    Error,
    WorkflowList,
    InstancePage,
    InstanceRef,
    BatchCreated,
    Instance,
    History,
    EventAccepted,
    Ok,
    RetryAccepted,
    TickResult,
    Health,
    OpenAPIDocument,
)
