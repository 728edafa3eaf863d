"""A schedule's state as its ticker (durable.ticker) keeps it, and how it is read back.

Every `do` step of a ticker returns the whole state (a *snapshot*); the signals of its run (a
trigger, a new definition, a deletion: events of type `schedule.signal`) come after it in arrival
order, and `fold` applies those the snapshot has not. A new run starts from the previous run's
last snapshot with that run's signals folded in; reading a schedule (durable.schedules) folds the
current run the same way, so it sees a new definition before the ticker takes it up.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from durable.schedule import Catchup, Overlap, Timing, every_ms
from durable.workflow import TICKER_NAME

if TYPE_CHECKING:
    from durable.store import Ref, Store

SIGNAL = "schedule.signal"
# the ticker's `do` steps: each one's result is the state after it
SNAPSHOTS = frozenset({"state", "fire", "signal"})


class Shape(BaseModel):
    """Stored as JSON (the ticker's params, signals and snapshots), camelCase."""

    model_config = ConfigDict(
        alias_generator=to_camel, validate_by_name=True, validate_by_alias=True, frozen=True
    )

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


class Definition(Shape):
    """What a schedule is: the fields a user gives (`every` as a duration string)."""

    workflow: str
    id: str
    cron: str | None = None
    every: str | None = None
    timezone: str = "UTC"
    params: Any = None
    overlap: Overlap = "skip"
    catchup: Catchup = "latest"

    def timing(self) -> Timing:
        every = None if self.every is None else every_ms(self.every)
        return Timing(self.cron, every, self.timezone)

    def same_as(self, other: Definition) -> bool:
        return self.model_dump() == other.model_dump() or (
            self.model_dump(exclude={"every"}) == other.model_dump(exclude={"every"})
            and self.every is not None
            and other.every is not None
            and every_ms(self.every) == every_ms(other.every)
        )


class State(Shape):
    """A ticker's state: its definition and where it is. The ticker's params hold the first."""

    definition: Definition
    created_at_ms: int | None = None  # None: the ticker instance's creation time
    anchor_ms: int | None = None  # the tick the next one follows (None: creation time)
    last_tick_ms: int | None = None
    last_instance_id: str | None = None
    deleted: bool = False
    signals: int = 0  # how many of the run's signals this state has applied
    triggers: tuple[int, ...] = ()  # manual triggers not started yet (times, ms)


class Signal(Shape):
    """The payload of a signal event (type `schedule.signal`)."""

    action: Literal["trigger", "update", "define", "delete"]
    definition: Definition | None = None


def fold(state: State, signals: list[tuple[Signal, int]]) -> State:
    """`state` after the run's signals (with their times) it has not applied yet."""
    for signal, at_ms in signals[state.signals :]:
        state = applied(state, signal, at_ms)
    return state


def applied(state: State, signal: Signal, at_ms: int) -> State:
    """`state` after one more signal: a trigger is queued in `triggers`, a definition replaces
    the schedule's (its ticks count from `at_ms`), a deletion ends it."""
    update: dict[str, Any] = {"signals": state.signals + 1}
    if signal.action == "trigger" and not state.deleted:
        update["triggers"] = (*state.triggers, at_ms)
    elif signal.action == "delete":
        update.update(deleted=True, triggers=())
    elif signal.definition is not None and (signal.action == "define" or not state.deleted):
        update.update(definition=signal.definition, anchor_ms=at_ms, deleted=False)
        if signal.action == "define":
            update["created_at_ms"] = at_ms
    return state.model_copy(update=update)


# -- reading a run's records -------------------------------------------------------------------


Signals = list[tuple[Signal, int]]  # signals of a run with their times (ms), oldest first


async def read_run(store: Store, ref: Ref, run: int) -> tuple[State | None, Signals]:
    """A ticker run's latest snapshot (None before its first) and its signals, oldest first."""
    from durable import keys
    from durable.records import EventRecord, StepRecord
    from durable.types import StepStatus, StepType

    await store.open()
    space = store.space(ref)
    wf, iid = ref.workflow, ref.instance_id
    async with store.redis.pipeline(transaction=False) as pipe:
        pipe.hgetall(keys.steps_key(space, wf, iid, run))
        pipe.hgetall(keys.events_key(space, wf, iid, run))
        steps, events = await pipe.execute()
    latest: StepRecord | None = None
    for raw in steps.values():
        rec = StepRecord.decode(raw)
        taken = rec.type == StepType.DO and rec.status == StepStatus.COMPLETED
        if taken and rec.name in SNAPSHOTS and (latest is None or rec.order > latest.order):
            latest = rec
    grouped: dict[int, dict[str, str]] = {}
    for name, value in events.items():
        seq, _, part = _text(name).partition(":")
        grouped.setdefault(int(seq), {})[part] = _text(value)
    signals = []
    for _, parts in sorted(grouped.items()):
        event = EventRecord.decode(parts) if "" in parts else None
        if event is not None and event.type == SIGNAL:
            payload = json.loads(event.payload_json or "null")
            signals.append((Signal.model_validate(payload), event.created_at_ms or 0))
    snapshot = None if latest is None else State.model_validate(latest.result)
    return snapshot, signals


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def state_at_start(store: Store, ref: Ref, run: int, params: State) -> State:
    """The state a run starts from: its params (run 0), else the previous run's last state."""
    if run == 0:
        return params
    snapshot, signals = await read_run(store, ref, run - 1)
    if snapshot is None:  # the previous run never got going: look one further back
        snapshot = await state_at_start(store, ref, run - 1, params)
    return fold(snapshot, signals).model_copy(update={"signals": 0})


async def current_state(store: Store, ref: Ref, run: int, params: State) -> State:
    """A ticker's state as of now: its run's last snapshot and the signals after it."""
    snapshot, signals = await read_run(store, ref, run)
    if snapshot is None:
        snapshot = await state_at_start(store, ref, run, params)
    return fold(snapshot, signals)


__all__ = [
    "SIGNAL",
    "TICKER_NAME",
    "Definition",
    "Signal",
    "Signals",
    "State",
    "applied",
    "current_state",
    "fold",
    "read_run",
    "state_at_start",
]
