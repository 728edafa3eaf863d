"""Request bodies, validated with pydantic at the trust boundary.

Field names are the JSON names (camelCase). Unknown top-level fields are rejected, so a typo such
as `param` instead of `params` fails loudly instead of being ignored. Params and payloads are any
JSON here; the Client validates them against the workflow's params model and size limits.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

MAX_BATCH = 1000
MAX_DELAY_MS = 365 * 86_400_000


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class EmptyBody(Body):
    """pause, resume, terminate and restart take no fields; `{}` or no body at all."""


class CreateInstanceBody(Body):
    id: str | None = Field(None, description="Instance id; generated (inst_ + 32 hex) if absent.")
    params: Any = Field(None, description="Workflow params, validated by the workflow's model.")


class BatchItem(Body):
    id: str = Field(description="Instance id; an id that already exists is skipped.")
    params: Any = None


class CreateBatchBody(Body):
    instances: Annotated[list[BatchItem], Field(max_length=MAX_BATCH)]


class SendEventBody(Body):
    type: str = Field(description="Event type, matched by step.wait_for_event(type=...).")
    payload: Any = None
    id: str | None = Field(None, description="Client event id; resending it stores nothing new.")


# Field names below are the JSON (camelCase) names.


class RetryFailedStepBody(Body):
    delayMs: Annotated[int, Field(ge=0, le=MAX_DELAY_MS)] = 0


class RunnerTickBody(Body):
    maxInstances: Annotated[int, Field(ge=1, le=1000)] = 10
    maxSteps: Annotated[int, Field(ge=1, le=100_000)] = 100


class CreateScheduleBody(Body):
    """A schedule: exactly one of cron and every (docs/semantics.md, "Schedules")."""

    id: str = Field(description="Schedule id: 1-63 letters, digits and _ . - (no ':').")
    cron: str | None = Field(
        None, description="5 fields (minute hour day month weekday), or 6 with seconds first."
    )
    every: str | int | None = Field(
        None, description='A duration of at least 1 s ("30 s", "1 h"), or milliseconds.'
    )
    params: Any = Field(None, description="Params of every instance it starts.")
    timezone: str = Field("UTC", description="IANA time zone the cron fields are read in.")
    paused: bool = Field(False, description="Create it paused (ignored by an update).")
    overlap: str = Field("skip", description="skip (default) or allow.")
    catchup: str = Field("latest", description="latest (default), all or none.")


class BulkBody(Body):
    """Select instances by status and/or ids (at least one)."""

    status: str | None = Field(None, description="Only instances in this status.")
    ids: Annotated[list[str], Field(max_length=MAX_BATCH)] | None = Field(
        None, description="Only these instances (at most 1000)."
    )


class BulkRetryBody(BulkBody):
    delayMs: Annotated[int, Field(ge=0, le=MAX_DELAY_MS)] = 0


REQUEST_MODELS: tuple[type[Body], ...] = (
    EmptyBody,
    CreateInstanceBody,
    CreateBatchBody,
    SendEventBody,
    RetryFailedStepBody,
    RunnerTickBody,
    CreateScheduleBody,
    BulkBody,
    BulkRetryBody,
)
