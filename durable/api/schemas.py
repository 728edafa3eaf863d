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


REQUEST_MODELS: tuple[type[Body], ...] = (
    EmptyBody,
    CreateInstanceBody,
    CreateBatchBody,
    SendEventBody,
    RetryFailedStepBody,
    RunnerTickBody,
)
