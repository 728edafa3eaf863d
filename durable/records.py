"""Stored records and their public (API) shapes.

Step records are JSON objects with short keys, always starting with their status so the Lua
scripts can read it without decoding user data:
  s status, n name, t type, q order, a attempts, m max attempts, i interruptions,
  to timeout ms, nr next retry ms, w wake ms, et event type, r result,
  e error {name, message}, c/u created/updated,
  fa failed attempts [{a attempt, c failed at ms, e {name, message}}] (the latest
  FAILED_ATTEMPTS_KEPT, oldest first), ft failed attempts in total.
Records written before a field existed lack it; readers treat a missing field as its default.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from durable.errors import NondeterminismError
from durable.types import JSONDict, Status, StepStatus, StepType

SCHEMA_VERSION = 1
FAILED_ATTEMPTS_KEPT = 20
FAILED_MESSAGE_MAX = 500  # characters of an error message kept per failed attempt


def iso(ms: int | str | None) -> str | None:
    if ms is None or ms == "":
        return None
    value = int(ms)
    stamp = datetime.fromtimestamp(value / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{value % 1000:03d}Z"


def dumps(value: Any) -> str:
    """Compact JSON; raises ValueError/TypeError for values JSON cannot hold, including text
    that is not valid Unicode (lone surrogates, e.g. from os.fsdecode)."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    text.encode()  # UnicodeEncodeError is a ValueError
    return text


def clean_text(text: str) -> str:
    """Text safe to store and to serve: lone surrogates become U+FFFD."""
    return _SURROGATES.sub("\ufffd", text)


_SURROGATES = re.compile("[\ud800-\udfff]")


def encode_step(rec: JSONDict) -> str:
    ordered = {"s": rec["s"], **{k: v for k, v in rec.items() if k != "s" and v is not None}}
    return dumps(ordered)


def step_head(rec: JSONDict) -> str:
    """A step record without status and closing brace, for scripts that add fields."""
    body = {k: v for k, v in rec.items() if k != "s" and v is not None}
    return dumps(body)[:-1]


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def add_failed_attempt(rec: JSONDict, error: JSONDict, at_ms: int) -> JSONDict:
    """Note the failure of attempt rec["a"] on a step record; returns the entry added."""
    entry: JSONDict = {
        "a": rec.get("a", 1),
        "c": at_ms,
        "e": {"name": error["name"], "message": cut(error["message"], FAILED_MESSAGE_MAX)},
    }
    rec["fa"] = [*rec.get("fa", []), entry][-FAILED_ATTEMPTS_KEPT:]
    rec["ft"] = int(rec.get("ft", 0)) + 1
    return entry


def failed_attempts_to_api(rec: JSONDict) -> list[JSONDict]:
    return [
        {
            "attempt": item.get("a"),
            "error": {"name": item["e"].get("name"), "message": item["e"].get("message")},
            "at": iso(item.get("c")),
        }
        for item in rec.get("fa") or []
    ]


def step_to_api(key: str, rec: JSONDict) -> JSONDict:
    failed_attempts = failed_attempts_to_api(rec)
    out: JSONDict = {
        "stepKey": key,
        "name": rec.get("n"),
        "type": rec.get("t"),
        "status": rec.get("s"),
        "attempts": rec.get("a", 0),
        "maxAttempts": rec.get("m", 1),
        "timeoutMs": rec.get("to"),
        "nextRetryAt": iso(rec.get("nr")),
        "wakeAt": iso(rec.get("w")),
        "waitEventType": rec.get("et"),
        "failedAttempts": failed_attempts,
        "failedAttemptsTotal": int(rec.get("ft", 0)),
        "result": rec.get("r"),
        "createdAt": iso(rec.get("c")),
        "updatedAt": iso(rec.get("u")),
    }
    if rec.get("e"):
        out["error"] = {"name": rec["e"].get("name"), "message": rec["e"].get("message")}
    return out


def current_step_to_api(key: str, rec: JSONDict) -> JSONDict:
    out = step_to_api(key, rec)
    for field in ("result", "createdAt", "updatedAt"):
        out.pop(field)
    return out


def details(inst: dict[str, str]) -> JSONDict:
    out: JSONDict = {"status": inst["status"], "runNumber": int(inst.get("run", 0))}
    if inst.get("error"):
        out["error"] = json.loads(inst["error"])
    if inst.get("output"):
        out["output"] = json.loads(inst["output"])
    return out


def meta(inst: dict[str, str], current: JSONDict | None) -> JSONDict:
    out: JSONDict = {
        "workflowName": inst["wf"],
        "version": inst.get("version"),  # the code version that created it; null when unnamed
        "runNumber": int(inst.get("run", 0)),
        "params": json.loads(inst.get("params") or "{}"),
        "pauseRequested": inst.get("pause") == "1",
        "createdAt": iso(inst.get("created")),
        "updatedAt": iso(inst.get("updated")),
        "startedAt": iso(inst.get("started")),
        "completedAt": iso(inst.get("completed")),
    }
    if current is not None:
        out["currentStep"] = current
    return out


def event_to_api(fields: dict[str, str]) -> JSONDict:
    """`fields`: the event's JSON under "", and optional "p", "k", "d" parts."""
    ev = json.loads(fields[""])
    return {
        "id": ev.get("id"),
        "type": ev.get("t"),
        "payload": json.loads(fields["p"]) if "p" in fields else None,
        "createdAt": iso(ev.get("c")),
        "deliveredAt": iso(fields.get("d")),
        "consumedByStepKey": fields.get("k"),
    }


def log_to_api(raw: str) -> JSONDict:
    rec = json.loads(raw)
    return {
        "id": str(rec.get("id")),
        "stepKey": rec.get("k"),
        "attempt": rec.get("a"),
        "level": rec.get("l"),
        "category": rec.get("g", "workflow"),
        "message": rec.get("m"),
        "data": rec.get("d"),
        "createdAt": iso(rec.get("c")),
    }


# -- retrying a failed step ---------------------------------------------------------------------


def failed_on_nondeterminism(inst: dict[str, str]) -> bool:
    """The instance errored because its workflow code no longer matched its recorded steps."""
    if inst.get("status") != Status.ERRORED or not inst.get("error"):
        return False
    return bool(json.loads(inst["error"]).get("name") == NondeterminismError.__name__)


def failed_do_step(inst: dict[str, str], raw: str) -> JSONDict | None:
    """The record of the errored `step.do` step that ended the run (`raw` is the record of the
    instance's current step), or None when the run did not end in one."""
    rec = json.loads(raw) if raw and inst.get("cur") else None
    if rec is None or rec.get("s") != StepStatus.ERRORED or rec.get("t") != StepType.DO:
        return None
    return dict(rec)


def reopened_step(rec: JSONDict) -> JSONDict:
    """A failed step's record re-opened for one more attempt; the retry_step script adds its
    next-retry and updated times."""
    return {**rec, "s": StepStatus.WAITING, "m": rec.get("a", 1) + 1, "nr": None, "u": None}
