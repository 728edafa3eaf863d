"""Stored records as dataclasses with full field names (their API shapes: durable.views).

A record's stored spelling lives only in its `encode`/`decode`. Step records are JSON objects
with short keys, always starting with their status so the Lua scripts can read it without
decoding user data:
  s status, n name, t type, q order, a attempt, m max attempts, i interruptions,
  to timeout ms, nr next retry ms, w wake ms, et event type, r result,
  e error {name, message[, kind]}, c/u created/updated ms,
  fa failed attempts [{a attempt, c failed at ms, e {name, message}}] (the latest
  FAILED_ATTEMPTS_KEPT, oldest first), ft failed attempts in total,
  ch the child of an invoke step {w workflow, i id[, d detached][, a false: not awaited]};
  an invoke step's error carries the child's own error as e.child {name, message}.
Records written before a field existed lack it and decode to its default; fields this version
does not know are kept as read (`extra`) and written back. The instance is a Redis hash that
only the scripts write (InstanceRecord names its fields); logs and events are JSON with short
keys too (LogRecord, EventRecord).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from durable.errors import NondeterminismError
from durable.types import JSON, JSONDict, Status, StepStatus, StepType

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


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _ms(value: Any) -> int | None:
    return None if value is None or value == "" else int(value)


def _count(value: Any) -> int:
    return int(value) if value else 0


# -- step records --------------------------------------------------------------------------------


@dataclass(frozen=True)
class StepError:
    """A step's recorded error; `kind` is the class a replay rebuilds when it differs from
    `name` (durable.replayed)."""

    name: str
    message: str
    kind: str | None = None
    child: StepError | None = None  # of an invoke step: the child's own error

    def to_json(self) -> JSONDict:
        out: JSONDict = {"name": self.name, "message": self.message}
        if self.kind is not None:
            out["kind"] = self.kind
        if self.child is not None:
            out["child"] = self.child.to_json()
        return out

    @classmethod
    def from_json(cls, value: JSONDict) -> StepError:
        child = value.get("child")
        return cls(
            str(value.get("name")),
            str(value.get("message")),
            value.get("kind"),
            StepError.from_json(child) if isinstance(child, dict) else None,
        )


@dataclass(frozen=True)
class ChildRef:
    """The child instance an invoke step started (step.invoke or step.start)."""

    workflow: str
    instance_id: str
    detached: bool = False  # left running when the parent is terminated or restarted
    awaited: bool = True  # step.invoke (False: step.start)

    def to_json(self) -> JSONDict:
        out: JSONDict = {"w": self.workflow, "i": self.instance_id}
        if self.detached:
            out["d"] = True
        if not self.awaited:
            out["a"] = False
        return out

    @classmethod
    def from_json(cls, value: JSONDict) -> ChildRef:
        return cls(str(value["w"]), str(value["i"]), bool(value.get("d")), value.get("a", True))

    @property
    def member(self) -> str:
        return f"{self.workflow}/{self.instance_id}"


@dataclass(frozen=True)
class ParentRef:
    """The step of another instance that started this one as its child."""

    workflow: str
    instance_id: str
    run: int
    step_key: str

    def encode(self) -> str:
        return dumps({"w": self.workflow, "i": self.instance_id, "r": self.run, "k": self.step_key})

    @classmethod
    def decode(cls, raw: str) -> ParentRef:
        f = json.loads(raw)
        return cls(str(f["w"]), str(f["i"]), int(f["r"]), str(f["k"]))


@dataclass(frozen=True)
class FailedAttempt:
    attempt: int
    failed_at_ms: int
    error: StepError  # name and message (cut to FAILED_MESSAGE_MAX) only

    def to_json(self) -> JSONDict:
        return {"a": self.attempt, "c": self.failed_at_ms, "e": self.error.to_json()}

    @classmethod
    def from_json(cls, value: JSONDict) -> FailedAttempt:
        error = StepError.from_json(value.get("e") or {})
        return cls(_count(value.get("a")), _count(value.get("c")), error)


_STEP_KEYS = frozenset({"s", "n", "t", "q", "a", "m", "i", "to", "nr", "w", "et", "r", "e"})
_STEP_KEYS |= {"fa", "ft", "c", "u", "ch"}


@dataclass(frozen=True)
class StepRecord:
    status: StepStatus
    name: str
    type: StepType
    order: int = 0  # the run's steps in the order they were first recorded, from 1
    attempt: int = 0  # of a `do` step: the current (or last) attempt, from 1
    max_attempts: int = 1
    interruptions: int = 0  # executions lost while this step was the current one
    timeout_ms: int | None = None
    next_retry_at_ms: int | None = None
    wake_at_ms: int | None = None  # a sleep's end, or a wait's deadline
    event_type: str | None = None
    result: JSON = None  # the recorded result (decoded); written only when not None
    error: StepError | None = None
    failed_attempts: tuple[FailedAttempt, ...] = ()
    failed_attempts_total: int = 0
    child: ChildRef | None = None
    created_at_ms: int | None = None
    updated_at_ms: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)  # fields this version does not know

    # -- stored form -----------------------------------------------------------------------------

    @classmethod
    def decode(cls, raw: str | bytes) -> StepRecord:
        return cls.from_json(json.loads(raw))

    @classmethod
    def from_json(cls, f: JSONDict) -> StepRecord:
        return cls(
            status=StepStatus(f["s"]),
            name=str(f.get("n", "")),
            type=StepType(f.get("t", StepType.DO)),
            order=_count(f.get("q")),
            attempt=_count(f.get("a")),
            max_attempts=int(f.get("m", 1)),
            interruptions=_count(f.get("i")),
            timeout_ms=_ms(f.get("to")),
            next_retry_at_ms=_ms(f.get("nr")),
            wake_at_ms=_ms(f.get("w")),
            event_type=f.get("et"),
            result=f.get("r"),
            error=StepError.from_json(f["e"]) if f.get("e") else None,
            failed_attempts=tuple(FailedAttempt.from_json(x) for x in f.get("fa") or ()),
            failed_attempts_total=_count(f.get("ft")),
            child=ChildRef.from_json(f["ch"]) if f.get("ch") else None,
            created_at_ms=_ms(f.get("c")),
            updated_at_ms=_ms(f.get("u")),
            extra={k: v for k, v in f.items() if k not in _STEP_KEYS},
        )

    def _fields(self) -> JSONDict:
        """The stored fields in order: status first (scripts read it), the result last."""
        out: JSONDict = {"s": self.status, "n": self.name, "t": self.type, "q": self.order}
        out.update(a=self.attempt, m=self.max_attempts)
        optional = {
            "i": self.interruptions or None,
            "to": self.timeout_ms,
            "nr": self.next_retry_at_ms,
            "w": self.wake_at_ms,
            "et": self.event_type,
            "e": self.error.to_json() if self.error else None,
            "fa": [item.to_json() for item in self.failed_attempts] or None,
            "ft": self.failed_attempts_total or None,
            "ch": self.child.to_json() if self.child else None,
            "c": self.created_at_ms,
            "u": self.updated_at_ms,
        }
        out.update((k, v) for k, v in optional.items() if v is not None)
        out.update((k, v) for k, v in self.extra.items() if k not in out)
        if self.result is not None:
            out["r"] = self.result
        return out

    def encode(self, *, result_json: str | None = None) -> str:
        """The stored JSON. `result_json`, when given, is spliced in as the result unchanged
        (the engine encodes a step's value once, to check its size, and stores that text)."""
        if result_json is None:
            return dumps(self._fields())
        fields = self._fields()
        fields.pop("r", None)
        return dumps(fields)[:-1] + ',"r":' + result_json + "}"

    def wait_head(self) -> str:
        """What the wait_event script completes: no status, updated time, result or closing
        brace (the script adds the status it decides, its own time and the event or error)."""
        fields = self._fields()
        for key in ("s", "u", "r", "e"):
            fields.pop(key, None)
        return dumps(fields)[:-1]

    def retry_head(self) -> str:
        """What the retry_step script completes: no next retry, updated time or closing brace
        (the script adds them from its own clock)."""
        fields = self._fields()
        for key in ("nr", "u"):
            fields.pop(key, None)
        return dumps(fields)[:-1]

    # -- changes ---------------------------------------------------------------------------------

    def with_failure(self, error: StepError, at_ms: int) -> StepRecord:
        """Note the failure of the current attempt (the latest FAILED_ATTEMPTS_KEPT are kept)."""
        kept = StepError(error.name, cut(error.message, FAILED_MESSAGE_MAX))
        entry = FailedAttempt(max(self.attempt, 1), at_ms, kept)
        return replace(
            self,
            failed_attempts=(*self.failed_attempts, entry)[-FAILED_ATTEMPTS_KEPT:],
            failed_attempts_total=self.failed_attempts_total + 1,
        )

    def reopened(self) -> StepRecord:
        """A failed step re-opened for one more attempt; the retry_step script adds its
        next-retry and updated times (see `retry_head`)."""
        return replace(
            self,
            status=StepStatus.WAITING,
            max_attempts=max(self.attempt, 1) + 1,
            next_retry_at_ms=None,
            updated_at_ms=None,
        )


# -- instances -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class InstanceRecord:
    """An instance hash as read (only the scripts write it; fields absent there are defaults)."""

    workflow: str
    instance_id: str
    status: Status
    run: int = 0
    params_json: str = "{}"
    version: str | None = None  # the code version that created it
    pause_requested: bool = False
    wake_requested: bool = False  # an event arrived while it ran: run again at once
    fence: int = 0
    lease_expires_at_ms: int | None = None
    lease_owner: str | None = None
    lease_job_id: str | None = None  # the job whose execution holds the lease
    job_id: str | None = None  # the one pending job (its next wake-up)
    due_at_ms: int | None = None
    jobs_issued: int = 0
    current_step: str | None = None  # the key of the step written last
    workflow_logs: int = 0  # workflow-level log lines of the run (not in any step)
    interruptions: int = 0  # executions lost in a row without progress
    events_received: int = 0  # of the run
    output_json: str | None = None
    error_json: str | None = None
    idempotency_key: str | None = None  # of the create that made it
    traceparent: str | None = None
    restart_token: str | None = None
    gate_key_value: str | None = None  # JSON: the limit key's value of the gate it met
    granted_run: int | None = None  # the run its gate granted (durable/gate.py)
    gate_note_json: str | None = None  # what it waits behind at its gate (meta.waitingFor)
    parent: ParentRef | None = None  # the step of another instance that started it
    parent_awaits: bool = False  # that step waits for its outcome
    created_at_ms: int | None = None
    updated_at_ms: int | None = None
    started_at_ms: int | None = None
    completed_at_ms: int | None = None
    schema_version: int = SCHEMA_VERSION

    @classmethod
    def decode(cls, fields: Mapping[str, str]) -> InstanceRecord:
        f = fields.get
        return cls(
            workflow=f("wf", ""),
            instance_id=f("id", ""),
            status=Status(f("status") or Status.QUEUED),
            run=_count(f("run")),
            params_json=f("params") or "{}",
            version=f("version") or None,
            pause_requested=f("pause") == "1",
            wake_requested=f("wake") == "1",
            fence=_count(f("fence")),
            lease_expires_at_ms=_ms(f("lease")),
            lease_owner=f("owner"),
            lease_job_id=f("ajob"),
            job_id=f("job"),
            due_at_ms=_ms(f("due")),
            jobs_issued=_count(f("jobn")),
            current_step=f("cur") or None,
            workflow_logs=_count(f("logn")),
            interruptions=_count(f("lost")),
            events_received=_count(f("evn")),
            output_json=f("output") or None,
            error_json=f("error") or None,
            idempotency_key=f("ik"),
            traceparent=f("tp"),
            restart_token=f("rt"),
            gate_key_value=f("gate"),
            granted_run=_ms(f("grant")),
            gate_note_json=f("gwait"),
            parent=ParentRef.decode(f("parent") or "") if f("parent") else None,
            parent_awaits=f("pw") == "1",
            created_at_ms=_ms(f("created")),
            updated_at_ms=_ms(f("updated")),
            started_at_ms=_ms(f("started")),
            completed_at_ms=_ms(f("completed")),
            schema_version=_count(f("v")) or SCHEMA_VERSION,
        )

    @property
    def params(self) -> JSON:
        return json.loads(self.params_json)

    @property
    def error(self) -> JSONDict | None:
        return None if self.error_json is None else dict(json.loads(self.error_json))


# -- logs and events -----------------------------------------------------------------------------


@dataclass(frozen=True)
class LogRecord:
    level: str
    message: str
    data: JSON = None
    category: str = "workflow"
    step_key: str | None = None  # None: logged by workflow code outside any step
    attempt: int | None = None
    created_at_ms: int | None = None
    id: int | None = None  # the line's position in the run's log, given as it is appended

    def encode(self) -> str:
        """One line without its id (the script numbers lines as it appends them); data that
        JSON cannot hold is written as its str()."""
        fields = {"k": self.step_key, "a": self.attempt, "l": self.level, "g": self.category}
        fields.update(m=self.message, d=self.data, c=self.created_at_ms)
        line = json.dumps(fields, default=str, separators=(",", ":"), ensure_ascii=False)
        return clean_text(line)

    @classmethod
    def decode(cls, raw: str) -> LogRecord:
        f = json.loads(raw)
        return cls(
            level=f.get("l"), message=f.get("m"), data=f.get("d"),
            category=f.get("g", "workflow"), step_key=f.get("k"), attempt=f.get("a"),
            created_at_ms=_ms(f.get("c")), id=f.get("id"),
        )  # fmt: skip


@dataclass(frozen=True)
class EventRecord:
    id: str | None
    type: str | None
    created_at_ms: int | None
    payload_json: str | None
    delivered_at_ms: int | None = None
    consumed_by_step: str | None = None

    @staticmethod
    def head(event_id: str, event_type: str) -> str:
        """What the send_event script completes with the creation time and closing brace."""
        return dumps({"id": event_id, "t": event_type})[:-1]

    @classmethod
    def decode(cls, parts: Mapping[str, str]) -> EventRecord:
        """`parts`: the event's JSON under "", and optional "p" payload, "k" step key of the
        wait that consumed it and "d" delivery time."""
        ev = json.loads(parts[""])
        return cls(
            id=ev.get("id"), type=ev.get("t"), created_at_ms=_ms(ev.get("c")),
            payload_json=parts.get("p"), delivered_at_ms=_ms(parts.get("d")),
            consumed_by_step=parts.get("k"),
        )  # fmt: skip


# -- retrying a failed step ----------------------------------------------------------------------


def failed_on_nondeterminism(inst: InstanceRecord) -> bool:
    """The instance errored because its workflow code no longer matched its recorded steps."""
    error = inst.error if inst.status == Status.ERRORED else None
    return error is not None and error.get("name") == NondeterminismError.__name__


def failed_do_step(inst: InstanceRecord, raw: str) -> StepRecord | None:
    """The record of the errored `step.do` step that ended the run (`raw` is the record of the
    instance's current step), or None when the run did not end in one."""
    rec = StepRecord.decode(raw) if raw and inst.current_step else None
    if rec is None or rec.status != StepStatus.ERRORED or rec.type != StepType.DO:
        return None
    return rec
