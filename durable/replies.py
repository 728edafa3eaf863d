"""What the Lua scripts answer, decoded: one small frozen dataclass per kind of reply.

Each script's reply is a list whose first element is a `Tag` (its .lua header lists them);
the decoders here are the only code that indexes a reply. Instance fields stay raw strings and
step records raw JSON: durable.records interprets them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Tag(StrEnum):
    OK = "ok"
    EARLY = "early"
    GONE = "gone"
    STALE = "stale"
    BUSY = "busy"
    INACTIVE = "inactive"
    FENCED = "fenced"
    EXISTS = "exists"
    LIMIT = "limit"
    PAUSED = "paused"
    QUEUED = "queued"
    WAITING = "waiting"
    EVENT = "event"
    TIMEOUT = "timeout"
    WAIT = "wait"
    DUP = "dup"
    NOT_FOUND = "notfound"
    TERMINAL = "terminal"
    AGAIN = "again"
    NOT_ERRORED = "not_errored"
    CONFLICT = "conflict"
    ARQ = "arq"
    NONE = "none"
    HELD = "held"
    ACTIVE = "active"
    DONE = "done"
    DROPPED = "dropped"


class UnexpectedReply(RuntimeError):
    """A script answered outside its contract (a bug, or scripts and code out of step)."""

    def __init__(self, script: str, reply: Any) -> None:
        super().__init__(f"unexpected reply from the {script} script: {reply!r}")


# -- shared --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fenced:
    """The write carried a fencing token that is no longer current: the lease is lost."""


@dataclass(frozen=True)
class LimitReached:
    """The run already holds the most steps a run may record."""


@dataclass(frozen=True)
class NotFound:
    """No such instance."""


@dataclass(frozen=True)
class Terminal:
    """The instance already ended (complete, errored or terminated)."""

    status: str


# -- per script ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Created:
    """`created` is true when this call, or an earlier one with its idempotency key, made it."""

    created: bool
    instance: dict[str, str]


@dataclass(frozen=True)
class Acquired:
    fence: str
    now_ms: int
    instance: dict[str, str]
    steps: dict[str, str]  # step key -> record JSON, of the current run
    due_ms: int = 0  # when the job taken was due (0: none)
    status_before: str = ""  # 'waiting' when a timer woke the instance


@dataclass(frozen=True)
class Early:
    """The instance waits until `due_ms` (Redis time `now_ms`); its job was re-issued."""

    job_id: str
    due_ms: int
    now_ms: int


@dataclass(frozen=True)
class Refused:
    """No lease: GONE (no instance), STALE (another job is pending), BUSY (leased elsewhere)
    or INACTIVE (paused or ended: `status`)."""

    reason: Tag
    status: str = ""


@dataclass(frozen=True)
class Leased:
    """An instance take leased for the due job `job_id` (`acquired` as acquire answers)."""

    job_id: str
    workflow: str
    instance_id: str
    acquired: Acquired


@dataclass(frozen=True)
class Taken:
    """take leased these instances (Redis time `now_ms`). `next_due_ms` and `chores_due_ms` as
    in NothingDue, once they are taken: at most `now_ms` when more is due."""

    leases: tuple[Leased, ...]
    now_ms: int
    next_due_ms: int
    chores_due_ms: int
    reaped: Reaped


@dataclass(frozen=True)
class ForeignJob:
    """take claimed a due arq job of another function (arq's in-progress key), for arq to run."""

    job_id: str
    score: int
    reaped: Reaped


@dataclass(frozen=True)
class NothingDue:
    """No job was due (Redis time `now_ms`). `next_due_ms`: the queue's first job (-1 when the
    queue is empty; at most `now_ms` when due work was left to a plain arq worker).
    `chores_due_ms`: the first lease expiry or retention deadline housekeeping acts on (-1:
    none)."""

    now_ms: int
    next_due_ms: int
    chores_due_ms: int
    reaped: Reaped


@dataclass(frozen=True)
class Renewed:
    pause_requested: bool


@dataclass(frozen=True)
class Saved:
    pause_requested: bool
    woken: bool


@dataclass(frozen=True)
class Exists:
    """A completed or errored record is already there; it wins."""

    record: str


@dataclass(frozen=True)
class WaitResolved:
    """EVENT (consumed; the record holds it), TIMEOUT (record errored) or WAIT (recorded)."""

    outcome: Tag
    record: str
    now_ms: int


@dataclass(frozen=True)
class Released:
    """The status after the lease was given back, and the job that will wake it (if any)."""

    status: Tag
    job_id: str | None


@dataclass(frozen=True)
class Finished:
    """`outbox`: entries the end of the run owes other partitions (durable/children.py)."""

    outbox: tuple[str, ...] = ()


@dataclass(frozen=True)
class Reaped:
    """`swept`: outbox entries left behind by a crash, to carry over (durable/children.py)."""

    recovered: int
    expired: int
    swept: tuple[str, ...] = ()


@dataclass(frozen=True)
class Controlled:
    """Pause, resume or terminate took effect (or was already answered); the status before.
    `outbox`: what terminating owes other partitions (durable/children.py)."""

    status_before: str
    outbox: tuple[str, ...] = ()


@dataclass(frozen=True)
class Restarted:
    """`outbox`: the previous run's children to terminate (durable/children.py)."""

    run: int
    outbox: tuple[str, ...] = ()


@dataclass(frozen=True)
class Invoked:
    """The invoke script's outcome (DONE, TIMEOUT or WAIT), the step record it wrote, Redis
    time, and on a timeout the outbox entry that terminates the child ('' for none)."""

    outcome: Tag
    record: str
    now_ms: int
    outbox: str = ""


@dataclass(frozen=True)
class Reopened:
    """retry_step re-opened the step (`record`, '' for a replay) for `at_ms`."""

    record: str
    at_ms: int


@dataclass(frozen=True)
class Recalled:
    """An earlier call with the same idempotency key answered this (JSON)."""

    answer: str


@dataclass(frozen=True)
class NotErrored:
    status: str


@dataclass(frozen=True)
class Conflict:
    """The record (or error) changed since the caller read it."""


@dataclass(frozen=True)
class EventStored:
    """The event is stored (or, `duplicate`, was stored before); the instance fields status,
    run, output and error as they were before it."""

    duplicate: bool
    before: dict[str, str]


@dataclass(frozen=True)
class Snapshot:
    instance: dict[str, str]
    current_step: str  # the record of the instance's current step, '' when none


# -- decoders ------------------------------------------------------------------------------------


def pairs(flat: list[Any]) -> dict[str, str]:
    """HGETALL-style flat list -> dict of str."""
    it = iter(flat)
    return {_s(k): _s(v) for k, v in zip(it, it, strict=True)}


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def create(raw: list[Any]) -> Created:
    match raw:
        case [0 | 1 as made, fields]:
            return Created(bool(made), pairs(fields))
    raise UnexpectedReply("create", raw)


def acquire(raw: list[Any]) -> Acquired | Early | Refused:
    match raw:
        case [Tag.OK, fence, now, instance, steps, due, before]:
            return Acquired(
                str(fence), int(now), pairs(instance), pairs(steps), int(due), _s(before)
            )
        case [Tag.EARLY, job, due, now]:
            return Early(str(job), int(due), int(now))
        case [Tag.GONE | Tag.STALE | Tag.BUSY as reason]:
            return Refused(Tag(reason))
        case [Tag.INACTIVE, status]:
            return Refused(Tag.INACTIVE, str(status))
    raise UnexpectedReply("acquire", raw)


def take(raw: list[Any]) -> Taken | ForeignJob | NothingDue:
    match raw:
        case [Tag.OK, now, head, chores, recovered, expired, swept, *leases] if leases:
            reaped = Reaped(int(recovered), int(expired), _texts(swept))
            taken = tuple(_leased(one) for one in leases)
            return Taken(taken, int(now), int(head), int(chores), reaped)
        case [Tag.ARQ, job, score, recovered, expired, swept]:
            reaped = Reaped(int(recovered), int(expired), _texts(swept))
            return ForeignJob(str(job), int(float(score)), reaped)
        case [Tag.NONE, now, head, chores, recovered, expired, swept]:
            reaped = Reaped(int(recovered), int(expired), _texts(swept))
            return NothingDue(int(now), int(head), int(chores), reaped)
    raise UnexpectedReply("take", raw)


def _leased(raw: Any) -> Leased:
    match raw:
        case [job, wf, iid, fence, now, instance, steps, due, before]:
            got = Acquired(
                str(fence), int(now), pairs(instance), pairs(steps), int(due), _s(before)
            )
            return Leased(str(job), str(wf), str(iid), got)
    raise UnexpectedReply("take", raw)


def renew(raw: list[Any]) -> Renewed | Fenced:
    match raw:
        case [Tag.OK, pause]:
            return Renewed(bool(int(pause)))
        case [Tag.FENCED, _]:
            return Fenced()
    raise UnexpectedReply("renew", raw)


def save_step(raw: list[Any]) -> Saved | Exists | Fenced | LimitReached:
    match raw:
        case [Tag.OK, pause, wake]:
            return Saved(bool(int(pause)), bool(int(wake)))
        case [Tag.EXISTS, record]:
            return Exists(str(record))
        case [Tag.FENCED]:
            return Fenced()
        case [Tag.LIMIT]:
            return LimitReached()
    raise UnexpectedReply("save_step", raw)


def wait_event(raw: list[Any]) -> WaitResolved | Fenced | LimitReached:
    match raw:
        case [Tag.EVENT | Tag.TIMEOUT | Tag.WAIT as outcome, record, now]:
            return WaitResolved(Tag(outcome), str(record), int(now))
        case [Tag.FENCED]:
            return Fenced()
        case [Tag.LIMIT]:
            return LimitReached()
    raise UnexpectedReply("wait_event", raw)


def release(raw: list[Any]) -> Released | Fenced:
    match raw:
        case [Tag.PAUSED]:
            return Released(Tag.PAUSED, None)
        case [Tag.QUEUED | Tag.WAITING as status, job]:
            return Released(Tag(status), str(job))
        case [Tag.FENCED]:
            return Fenced()
    raise UnexpectedReply("release", raw)


def _texts(values: Any) -> tuple[str, ...]:
    return tuple(_s(value) for value in values)


def finish(raw: list[Any]) -> Finished | Fenced:
    match raw:
        case [Tag.OK, *outbox]:
            return Finished(_texts(outbox))
        case [Tag.FENCED]:
            return Fenced()
    raise UnexpectedReply("finish", raw)


def reap(raw: list[Any]) -> Reaped:
    match raw:
        case [recovered, expired, swept]:
            return Reaped(int(recovered), int(expired), _texts(swept))
    raise UnexpectedReply("reap", raw)


def control(script: str, raw: list[Any]) -> Controlled | NotFound | Terminal:
    """pause, resume and terminate."""
    match raw:
        case [Tag.OK, status, *outbox]:
            return Controlled(str(status), _texts(outbox))
        case [Tag.NOT_FOUND]:
            return NotFound()
        case [Tag.TERMINAL, status]:
            return Terminal(str(status))
    raise UnexpectedReply(script, raw)


def restart(raw: list[Any]) -> Restarted | NotFound:
    match raw:
        case [Tag.OK, run, *outbox]:
            return Restarted(int(run), _texts(outbox))
        case [Tag.NOT_FOUND]:
            return NotFound()
    raise UnexpectedReply("restart", raw)


def retry_step(raw: list[Any]) -> Reopened | Recalled | NotFound | NotErrored | Conflict:
    match raw:
        case [Tag.OK, record, at]:
            return Reopened(str(record), int(at))
        case [Tag.AGAIN, answer]:
            return Recalled(str(answer))
        case [Tag.NOT_FOUND]:
            return NotFound()
        case [Tag.NOT_ERRORED, status]:
            return NotErrored(str(status))
        case [Tag.CONFLICT]:
            return Conflict()
    raise UnexpectedReply("retry_step", raw)


def send_event(raw: list[Any]) -> EventStored | NotFound | Terminal:
    match raw:
        case [Tag.OK | Tag.DUP as tag, status, run, output, error]:
            before = {"status": str(status), "run": str(run), "output": output, "error": error}
            return EventStored(tag == Tag.DUP, before)
        case [Tag.NOT_FOUND]:
            return NotFound()
        case [Tag.TERMINAL, status]:
            return Terminal(str(status))
    raise UnexpectedReply("send_event", raw)


def read(raw: list[Any]) -> Snapshot | NotFound:
    match raw:
        case []:
            return NotFound()
        case [fields, record]:
            return Snapshot(pairs(fields), str(record))
    raise UnexpectedReply("read", raw)


# -- gates of workflows with limits (durable/gate.py) ----------------------------------------


@dataclass(frozen=True)
class GateState:
    """A gate after a call: whether the caller's run holds it, the instances this call granted
    (id, run), and what blocks the FIFO's head ('' when nothing waits or nothing blocks it):
    'concurrency', or 'rateLimit' until `free_at_ms`."""

    holds: bool
    blocked: str
    head: str
    head_run: int
    free_at_ms: int
    empty: bool
    granted: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class GateMarked:
    """The leased run is marked granted."""


@dataclass(frozen=True)
class GateHeld:
    """A run the gate did not grant is back in the queue: `status` is 'held' (no job: the gate
    wakes it), 'queued' (a job: its turn may have come) or 'paused'."""

    status: Tag


@dataclass(frozen=True)
class GateWoken:
    """A granted (or rate-blocked head) instance woken: 'queued', 'active' (running, waiting or
    paused in that run) or 'stale' (gone, ended, or in another run)."""

    status: Tag


def gate(raw: list[Any]) -> GateState:
    match raw:
        case [Tag.OK, holds, blocked, head, head_run, free_at, empty, *granted]:
            pairs_ = zip(granted[::2], granted[1::2], strict=True)
            return GateState(
                holds=int(holds) == 1, blocked=_s(blocked), head=_s(head),
                head_run=int(head_run or 0), free_at_ms=int(free_at), empty=int(empty) == 1,
                granted=tuple((_s(iid), int(run)) for iid, run in pairs_),
            )  # fmt: skip
    raise UnexpectedReply("gate", raw)


def gate_grant(raw: list[Any]) -> GateMarked | Fenced:
    match raw:
        case [Tag.OK]:
            return GateMarked()
        case [Tag.FENCED]:
            return Fenced()
    raise UnexpectedReply("gate_grant", raw)


def gate_wait(raw: list[Any]) -> GateHeld | Fenced:
    match raw:
        case [Tag.HELD | Tag.QUEUED | Tag.PAUSED as status]:
            return GateHeld(Tag(status))
        case [Tag.FENCED]:
            return Fenced()
    raise UnexpectedReply("gate_wait", raw)


def gate_wake(raw: list[Any]) -> GateWoken:
    match raw:
        case [Tag.QUEUED | Tag.ACTIVE | Tag.STALE as status]:
            return GateWoken(Tag(status))
    raise UnexpectedReply("gate_wake", raw)


def invoke(raw: list[Any]) -> Invoked | Fenced | LimitReached:
    match raw:
        case [Tag.DONE | Tag.WAIT as outcome, record, now]:
            return Invoked(Tag(outcome), str(record), int(now))
        case [Tag.TIMEOUT, record, now, *entry]:
            return Invoked(Tag.TIMEOUT, str(record), int(now), "".join(_texts(entry)))
        case [Tag.FENCED]:
            return Fenced()
        case [Tag.LIMIT]:
            return LimitReached()
    raise UnexpectedReply("invoke", raw)


def child_done(raw: list[Any]) -> bool:
    match raw:
        case [Tag.OK]:
            return True
        case [Tag.DROPPED]:
            return False
    raise UnexpectedReply("child_done", raw)
