"""Response shapes of SPEC §5: the Client's models (durable.models) plus the envelopes only the
HTTP API has (errors, lists of workflows and created instances, `{ok}`, tick, health).

Routes serialise them with `to_json(...)`; durable/api/openapi.py builds the document's
response schemas from `RESPONSE_MODELS`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from durable.models import (
    BulkResult,
    EventAccepted,
    History,
    Instance,
    InstancePage,
    InstanceSummary,
    Model,
    RetryAccepted,
    ScheduleEntry,
    ScheduleList,
    WorkflowSummary,
    omitted,
)


def to_json(model: Model) -> dict[str, Any]:
    """A model as its JSON body: camelCase names, absent fields left out (see durable.models)."""
    return model.model_dump(mode="json", by_alias=True)


class ErrorIssue(Model):
    path: str
    message: str


class Error(Model):
    message: str
    code: str
    issues: list[ErrorIssue] | SkipJsonSchema[None] = omitted("Present on validation errors.")


class WorkflowList(Model):
    workflows: list[WorkflowSummary]


class BatchCreated(Model):
    instances: list[InstanceSummary] = Field(description="Only the created ones, in input order.")


class Ok(Model):
    ok: Literal[True]


class TickResult(Model):
    processed: int


class Health(Model):
    ok: bool
    redis: Literal["up", "down"]
    code: str | SkipJsonSchema[None] = omitted("SERVICE_UNAVAILABLE when Redis is down.")
    message: str | SkipJsonSchema[None] = omitted("Why Redis is down.")


class OpenAPIDocument(Model):
    model_config = ConfigDict(extra="allow")
    openapi: str


RESPONSE_MODELS: tuple[type[Model], ...] = (
    Error,
    WorkflowList,
    InstancePage,
    InstanceSummary,
    BatchCreated,
    Instance,
    History,
    EventAccepted,
    Ok,
    RetryAccepted,
    TickResult,
    Health,
    OpenAPIDocument,
    ScheduleEntry,
    ScheduleList,
    BulkResult,
)
