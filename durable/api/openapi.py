"""The OpenAPI 3.1 document: the route table below plus JSON schemas generated from the models."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from durable import models
from durable.api import shapes
from durable.api.errors import STATUS_BY_CODE
from durable.api.schemas import (
    REQUEST_MODELS,
    BulkBody,
    BulkRetryBody,
    CreateBatchBody,
    CreateInstanceBody,
    CreateScheduleBody,
    EmptyBody,
    RetryFailedStepBody,
    RunnerTickBody,
    SendEventBody,
)
from durable.history import LOG_LEVELS
from durable.validation import LIST_STATUSES

REF_TEMPLATE = "#/components/schemas/{model}"
INSTANCE = "/{workflow}/instances/{id}"
COMMON_ERRORS = ("UNAUTHORIZED", "INTERNAL_SERVER_ERROR")
STORE_ERRORS = ("SERVICE_UNAVAILABLE",)  # routes that read or write Redis
BODY_ERRORS = ("VALIDATION_ERROR", "PAYLOAD_TOO_LARGE", "UNSUPPORTED_MEDIA_TYPE")
FOUND_ERRORS = ("WORKFLOW_NOT_FOUND", "INSTANCE_NOT_FOUND", "INVALID_INSTANCE_ID")


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # relative to the mount
    operation_id: str
    summary: str
    response: type[BaseModel]
    status: int = 200
    body: type[BaseModel] | None = None
    body_required: bool = False
    query: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    also: tuple[tuple[int, str, type[BaseModel]], ...] = ()  # more (status, description, shape)
    common_errors: bool = True  # False: no token needed, and none of COMMON_ERRORS
    store: bool = True  # it calls Redis, so it can answer SERVICE_UNAVAILABLE


def _control(action: str) -> Operation:
    summary = f"{action.capitalize()} an instance (see the control rules in the docs)."
    # restart starts a new run from any status; the others refuse an ended instance
    ended = () if action == "restart" else ("INSTANCE_TERMINAL",)
    errors = (*FOUND_ERRORS, *BODY_ERRORS, *ended)
    return Operation(
        "post",
        f"{INSTANCE}/{action}",
        f"{action}Instance",
        summary,
        shapes.Ok,
        body=EmptyBody,
        errors=errors,
    )


SCHEDULES = "/{workflow}/schedules"
SCHEDULE = "/{workflow}/schedules/{id}"
SCHEDULE_ERRORS = ("WORKFLOW_NOT_FOUND", "SCHEDULE_NOT_FOUND")


def _schedule_control(action: str, summary: str) -> Operation:
    shape = shapes.Ok if action == "trigger" else models.ScheduleEntry
    return Operation(
        "post",
        f"{SCHEDULE}/{action}",
        f"{action}Schedule",
        summary,
        shape,
        body=EmptyBody,
        errors=(*SCHEDULE_ERRORS, *BODY_ERRORS),
    )


def _bulk(action: str, operation_id: str, body: type[BaseModel]) -> Operation:
    return Operation(
        "post",
        f"/{{workflow}}/bulk/{action}",
        operation_id,
        f"{action.capitalize()} every instance selected by status and/or ids, a page at a time.",
        models.BulkResult,
        body=body,
        body_required=True,
        errors=("WORKFLOW_NOT_FOUND", "INVALID_INSTANCE_ID", *BODY_ERRORS),
    )


SCHEDULE_OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "get",
        SCHEDULES,
        "listSchedules",
        "Every schedule of the workflow, by id.",
        models.ScheduleList,
        errors=("WORKFLOW_NOT_FOUND",),
    ),
    Operation(
        "post",
        SCHEDULES,
        "createSchedule",
        "Create a schedule (201); an existing id with another definition is updated (200).",
        models.ScheduleEntry,
        status=201,
        body=CreateScheduleBody,
        body_required=True,
        also=((200, "The schedule existed: unchanged or updated.", models.ScheduleEntry),),
        errors=("WORKFLOW_NOT_FOUND", "WORKFLOW_PARAMS_INVALID", *BODY_ERRORS),
    ),
    Operation(
        "get",
        SCHEDULE,
        "getSchedule",
        "One schedule.",
        models.ScheduleEntry,
        errors=SCHEDULE_ERRORS,
    ),
    Operation(
        "delete",
        SCHEDULE,
        "deleteSchedule",
        "Delete a schedule; the instances it started carry on.",
        shapes.Ok,
        errors=SCHEDULE_ERRORS,
    ),
    _schedule_control("pause", "Pause a schedule: it starts nothing until resumed."),
    _schedule_control("resume", "Resume a schedule; missed ticks start as its catchup says."),
    _schedule_control("trigger", "Start the schedule's workflow now (by its overlap policy)."),
    _bulk("terminate", "bulkTerminate", BulkBody),
    _bulk("restart", "bulkRestart", BulkBody),
    _bulk("retry-step", "bulkRetryStep", BulkRetryBody),
)

OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "get", "", "listWorkflows", "List registered workflows.", shapes.WorkflowList, store=False
    ),
    Operation(
        "get",
        "/{workflow}/instances",
        "listInstances",
        "List instances, newest first.",
        models.InstancePage,
        query=("status", "version", "pageSize", "cursor"),
        errors=("WORKFLOW_NOT_FOUND", "VALIDATION_ERROR", "INVALID_CURSOR"),
    ),
    Operation(
        "post",
        "/{workflow}/instances",
        "createInstance",
        "Create an instance (201); an existing id returns it unchanged (200).",
        models.InstanceSummary,
        status=201,
        body=CreateInstanceBody,
        also=((200, "The instance already existed; returned unchanged.", models.InstanceSummary),),
        errors=(
            "WORKFLOW_NOT_FOUND",
            "INVALID_INSTANCE_ID",
            "WORKFLOW_PARAMS_INVALID",
            *BODY_ERRORS,
        ),
    ),
    Operation(
        "post",
        "/{workflow}/instances/batch",
        "createInstances",
        "Create up to 1000 instances; existing ids are skipped.",
        shapes.BatchCreated,
        body=CreateBatchBody,
        body_required=True,
        errors=(
            "WORKFLOW_NOT_FOUND",
            "INVALID_INSTANCE_ID",
            "WORKFLOW_PARAMS_INVALID",
            *BODY_ERRORS,
        ),
    ),
    Operation(
        "get",
        INSTANCE,
        "getInstance",
        "An instance's details and meta.",
        models.Instance,
        errors=FOUND_ERRORS,
    ),
    Operation(
        "get",
        f"{INSTANCE}/history",
        "getInstanceHistory",
        "Steps, events and logs of one run.",
        models.History,
        query=(
            "runNumber",
            "pageSize",
            "order",
            "includeLogs",
            "stepsCursor",
            "eventsCursor",
            "logsCursor",
            "logLevel",
            "logCategory",
        ),
        errors=(*FOUND_ERRORS, "VALIDATION_ERROR", "INVALID_CURSOR"),
    ),
    Operation(
        "post",
        f"{INSTANCE}/events",
        "sendEvent",
        "Send an event to an instance.",
        models.EventAccepted,
        body=SendEventBody,
        body_required=True,
        errors=(*FOUND_ERRORS, *BODY_ERRORS, "INSTANCE_TERMINAL"),
    ),
    *(_control(action) for action in ("pause", "resume", "terminate", "restart")),
    Operation(
        "post",
        f"{INSTANCE}/retry-failed-step",
        "retryFailedStep",
        "Re-open the failed last step of an errored instance.",
        models.RetryAccepted,
        body=RetryFailedStepBody,
        errors=(*FOUND_ERRORS, *BODY_ERRORS, "INSTANCE_NOT_ERRORED", "FAILED_STEP_NOT_RETRYABLE"),
    ),
    Operation(
        "post",
        "/_runner/tick",
        "runnerTick",
        "Advance due work inside the API process.",
        shapes.TickResult,
        body=RunnerTickBody,
        errors=(*BODY_ERRORS, "RUNNER_TICK_DISABLED"),
    ),
    Operation(
        "get",
        "/health",
        "health",
        "Liveness and Redis reachability; needs no token.",
        shapes.Health,
        also=((503, "Redis is down.", shapes.Health),),
        common_errors=False,
    ),
    Operation(
        "get", "/openapi.json", "openapi", "This document.", shapes.OpenAPIDocument, store=False
    ),
    *SCHEDULE_OPERATIONS,
)

QUERY_PARAMETERS: dict[str, dict[str, Any]] = {
    "status": {
        "type": "string",
        "enum": list(LIST_STATUSES),
        "description": "Only instances in this status; waitingForPause lists running instances "
        "whose pause is requested but not yet taken (their details.status stays running).",
    },
    "version": {
        "type": "string",
        "pattern": "^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,63}$",
        "description": "Only instances created by this code version of the workflow "
        "(`@workflow(version=...)`; shown as meta.version). Combines with status.",
    },
    "pageSize": {"type": "integer", "minimum": 1, "maximum": 100, "default": 25},
    "cursor": {"type": "string", "description": "The cursor a previous page returned."},
    "runNumber": {"type": "integer", "minimum": 0, "description": "Default: the current run."},
    "order": {"type": "string", "enum": ["asc", "desc"], "default": "desc"},
    "includeLogs": {"type": "string", "enum": ["true", "false"], "default": "false"},
    "stepsCursor": {"type": "string"},
    "eventsCursor": {"type": "string"},
    "logsCursor": {"type": "string"},
    "logLevel": {
        "type": "string",
        "enum": list(LOG_LEVELS),
        "description": "Only log lines of this level (needs includeLogs=true).",
    },
    "logCategory": {
        "type": "string",
        "description": "Only log lines of this category, exact match (needs includeLogs=true). "
        "Retries scheduled by the engine log under `retry`.",
    },
}


def build_document(mount: str, *, secured: bool) -> dict[str, Any]:
    refs, schemas = _schemas()
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(mount + op.path or "/", {})[op.method] = _operation(op, refs, secured)
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "durable workflows API", "version": "1"},
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": {"bearerAuth": _bearer()}},
    }
    if secured:
        document["security"] = [{"bearerAuth": []}]
    return document


def _schemas() -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        *((m, "validation") for m in REQUEST_MODELS),
        *((m, "serialization") for m in shapes.RESPONSE_MODELS),
    ]
    keyed, top = models_json_schema(models, ref_template=REF_TEMPLATE)
    refs = {model.__name__: dict(schema) for (model, _mode), schema in keyed.items()}
    return refs, dict(top.get("$defs", {}))


def _operation(op: Operation, refs: dict[str, dict[str, Any]], secured: bool) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "parameters": [
            *_path_parameters(op.path),
            *(_query(name) for name in op.query),
            *_headers(op),
        ],
        "responses": _responses(op, refs),
    }
    if op.body is not None:
        content = {"application/json": {"schema": refs[op.body.__name__]}}
        spec["requestBody"] = {"required": op.body_required, "content": content}
    if not op.common_errors and secured:
        spec["security"] = []
    return spec


def _path_parameters(path: str) -> list[dict[str, Any]]:
    names = re.findall(r"{(\w+)}", path)
    return [
        {"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in names
    ]


IDEMPOTENT = {
    "createInstance",
    "sendEvent",
    "retryFailedStep",
    "triggerSchedule",
    "bulkTerminate",
    "bulkRestart",
    "bulkRetryStep",
} | {f"{action}Instance" for action in ("pause", "resume", "terminate", "restart")}
IDEMPOTENCY_KEY_PARAMETER: dict[str, Any] = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "A retried call with the same key acts once and answers like the first.",
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{1,128}$"},
}


def _headers(op: Operation) -> list[dict[str, Any]]:
    return [IDEMPOTENCY_KEY_PARAMETER] if op.operation_id in IDEMPOTENT else []


def _query(name: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": QUERY_PARAMETERS[name]}


def _responses(op: Operation, refs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    responses = {str(op.status): _response("Success.", refs[op.response.__name__])}
    for status, description, shape in op.also:
        responses[str(status)] = _response(description, refs[shape.__name__])
    for status, names in sorted(_error_codes(op).items()):
        responses[str(status)] = _response(" or ".join(names), _error_schema(names, refs))
    return responses


def _error_codes(op: Operation) -> dict[int, list[str]]:
    """The error codes an operation can answer with, by HTTP status."""
    common = (*COMMON_ERRORS, *(STORE_ERRORS if op.store else ())) if op.common_errors else ()
    codes: dict[int, list[str]] = {}
    for code in dict.fromkeys((*op.errors, *common)):
        codes.setdefault(STATUS_BY_CODE[code], []).append(code)
    return codes


def _error_schema(codes: list[str], refs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The Error shape, with `code` limited to the codes this status carries here."""
    return {"allOf": [refs["Error"], {"properties": {"code": {"enum": codes}}}]}


def _response(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _bearer() -> dict[str, str]:
    return {"type": "http", "scheme": "bearer"}
