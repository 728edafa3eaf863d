"""The public (API) shapes of stored records: the camelCase dicts that Client.get, history and
listings return (durable.models validates them). Records come decoded (durable.records)."""

from __future__ import annotations

import json

from durable.records import (
    EventRecord,
    FailedAttempt,
    InstanceRecord,
    LogRecord,
    StepError,
    StepRecord,
    iso,
)
from durable.types import JSONDict, Status


def error_to_api(error: StepError) -> JSONDict:
    return {"name": error.name, "message": error.message}


def failed_attempt_to_api(failure: FailedAttempt) -> JSONDict:
    return {
        "attempt": failure.attempt,
        "error": error_to_api(failure.error),
        "at": iso(failure.failed_at_ms),
    }


def step_to_api(key: str, rec: StepRecord) -> JSONDict:
    out: JSONDict = {
        "stepKey": key,
        "name": rec.name,
        "type": rec.type,
        "status": rec.status,
        "attempts": rec.attempt,
        "maxAttempts": rec.max_attempts,
        "timeoutMs": rec.timeout_ms,
        "nextRetryAt": iso(rec.next_retry_at_ms),
        "wakeAt": iso(rec.wake_at_ms),
        "waitEventType": rec.event_type,
        "failedAttempts": [failed_attempt_to_api(item) for item in rec.failed_attempts],
        "failedAttemptsTotal": rec.failed_attempts_total,
        "result": rec.result,
        "createdAt": iso(rec.created_at_ms),
        "updatedAt": iso(rec.updated_at_ms),
    }
    if rec.error is not None:
        out["error"] = error_to_api(rec.error)
    if rec.child is not None:
        out["child"] = {"workflow": rec.child.workflow, "id": rec.child.instance_id}
    return out


def current_step_to_api(key: str, rec: StepRecord) -> JSONDict:
    out = step_to_api(key, rec)
    for name in ("result", "createdAt", "updatedAt"):
        out.pop(name)
    return out


def details(inst: InstanceRecord) -> JSONDict:
    out: JSONDict = {"status": inst.status, "runNumber": inst.run}
    if inst.error_json:
        out["error"] = json.loads(inst.error_json)
    if inst.output_json:
        out["output"] = json.loads(inst.output_json)
    return out


def waiting_for(inst: InstanceRecord) -> JSONDict | None:
    """What a queued instance waits behind at its gate (durable/gate.py), or None."""
    if inst.status != Status.QUEUED or not inst.gate_note_json or inst.granted_run == inst.run:
        return None
    note = dict(json.loads(inst.gate_note_json))
    if note.pop("run", None) != inst.run:
        return None
    return note


def meta(inst: InstanceRecord, current: JSONDict | None) -> JSONDict:
    out: JSONDict = {
        "workflowName": inst.workflow,
        "version": inst.version,  # the code version that created it; null when unnamed
        "runNumber": inst.run,
        "params": inst.params,
        "pauseRequested": inst.pause_requested,
        "createdAt": iso(inst.created_at_ms),
        "updatedAt": iso(inst.updated_at_ms),
        "startedAt": iso(inst.started_at_ms),
        "completedAt": iso(inst.completed_at_ms),
    }
    if inst.parent is not None:
        out["parent"] = {"workflow": inst.parent.workflow, "id": inst.parent.instance_id}
    if current is not None:
        out["currentStep"] = current
    waiting = waiting_for(inst)
    if waiting is not None:
        out["waitingFor"] = waiting
    return out


def event_to_api(event: EventRecord) -> JSONDict:
    return {
        "id": event.id,
        "type": event.type,
        "payload": None if event.payload_json is None else json.loads(event.payload_json),
        "createdAt": iso(event.created_at_ms),
        "deliveredAt": iso(event.delivered_at_ms),
        "consumedByStepKey": event.consumed_by_step,
    }


def log_to_api(line: LogRecord) -> JSONDict:
    return {
        "id": str(line.id),
        "stepKey": line.step_key,
        "attempt": line.attempt,
        "level": line.level,
        "category": line.category,
        "message": line.message,
        "data": line.data,
        "createdAt": iso(line.created_at_ms),
    }
