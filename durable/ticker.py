"""The ticker: the internal workflow ("durable.schedule") whose instances run schedules.

One ticker instance per schedule, id "<workflow>:<schedule id>"; every registry serves it (not
listed among the workflows). Its code loops: wait for the next tick with
`step.wait_for_event("tick", type="schedule.signal", timeout=<until the tick>)`, then start the
tick's instance inside `step.do` (id "<schedule id>:<tick, ISO 8601 UTC to the second>", so a
step re-run after a crash creates nothing twice). A signal event ends the wait early: a manual
trigger, a new definition, or the schedule's deletion. Ticks are timers in the same queue as all
other work; pausing the ticker pauses the schedule.

Its state lives in its own records (durable.schedule_state). After TICKS_PER_RUN ticks the
ticker restarts itself (a new run, so no run nears the step limit) and the new run starts from
the previous run's last state; the run before that is deleted, so a ticker keeps two runs.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from durable.errors import StepFailedError, WaitForEventTimeoutError
from durable.retries import Retries
from durable.schedule import tick_label
from durable.schedule_state import SIGNAL, Signal, State, applied, state_at_start
from durable.step import ReceivedEvent, Step
from durable.workflow import TICKER_NAME, WorkflowEvent

if TYPE_CHECKING:
    from durable.engine import Execution
    from durable.store import Store
    from durable.workflow import Registry, Workflow

TICKER = TICKER_NAME
TICKS_PER_RUN = 100
CATCHUP_LIMIT = 100
# A ticker restarted after its schedule was deleted waits this long for its new definition.
DEFINE_WAIT_MS = 60_000
MAX_WAIT_MS = 365 * 86_400_000  # the longest wait_for_event; longer gaps take several
# A Redis hiccup while starting a tick is retried; the tick is skipped only after all these.
FIRE_RETRIES = Retries(limit=12, delay="250 ms", backoff="exponential", max_delay="30 s")
RESTART_TTL_MS = 86_400_000


def ticker_id(workflow: str, schedule_id: str) -> str:
    return f"{workflow}:{schedule_id}"


def split_ticker_id(instance_id: str) -> tuple[str, str]:
    """(workflow, schedule id): schedule ids hold no ':'."""
    workflow, _, schedule_id = instance_id.rpartition(":")
    return workflow, schedule_id


def instance_id_for(schedule_id: str, tick_ms: int) -> str:
    return f"{schedule_id}:{tick_label(tick_ms)}"


# -- the workflow ------------------------------------------------------------------------------


def ticker_workflow(registry: Registry) -> Workflow:
    """The ticker, starting the instances of `registry`'s workflows."""
    from durable.workflow import Workflow

    async def run(event: WorkflowEvent, step: Step) -> Any:
        return await Ticker(registry, event, step).run()

    return Workflow(TICKER, run, params=State)


class Ticker:
    def __init__(self, registry: Registry, event: WorkflowEvent, step: Step) -> None:
        self.registry = registry
        self.step = step
        self.params: State = event.payload
        self.created_ms = int(event.timestamp.timestamp() * 1000)
        # The ticker is part of the engine: it uses its execution's store and Redis clock.
        self.execution: Execution = step._execution  # type: ignore[assignment]

    @property
    def store(self) -> Store:
        return self.execution.store

    def now(self) -> int:
        return self.execution.now()

    async def run(self) -> Any:
        state = await self.snapshot("state", self.initial)
        if state.deleted:
            state = await self.await_definition(state)
            if state.deleted:
                return {"deleted": True}
        for _ in range(TICKS_PER_RUN):
            state = await self.tick(state)
            if state.deleted:
                return {"deleted": True}
        await self.step.do("continue", self.restart)
        return None  # not reached: the restart hands the instance to its new run

    async def snapshot(self, name: str, make: Callable[[], Awaitable[State]]) -> State:
        async def dumped() -> dict[str, Any]:
            return (await make()).dump()

        return State.model_validate(await self.step.do(name, dumped, retries=FIRE_RETRIES))

    async def initial(self) -> State:
        """The run's first state; carried triggers start here. Drops the run before last."""
        run, ref = self.execution.run, self.execution.ref
        params = self.params
        if params.created_at_ms is None:
            params = params.model_copy(update={"created_at_ms": self.created_ms})
        state = await state_at_start(self.store, ref, run, params)
        if run >= 2:
            await self.drop_run(run - 2)
        if state.triggers and not state.deleted:
            state = await Starter(self, state).start(list(state.triggers))
        return state.model_copy(update={"triggers": ()})

    async def drop_run(self, run: int) -> None:
        from durable import cluster, keys

        ref = self.execution.ref
        await self.store.open()
        space = self.store.space(ref)
        wf, iid = ref.workflow, ref.instance_id
        # `run0`, the first run still kept, lets the scripts that walk an instance's runs
        # (retention, restart) start there instead of at run 0 of a ticker's thousands
        await cluster.atomically(
            self.store.redis,
            (
                "DEL",
                *(f(space, wf, iid, run) for f in (keys.steps_key, keys.events_key, keys.logs_key)),
            ),
            ("HSET", keys.instance_key(space, wf, iid), "run0", str(run + 1)),
        )

    async def await_definition(self, state: State) -> State:
        """Restarted after a deletion: wait for the definition of the re-created schedule."""
        try:
            got = await self.step.wait_for_event("define", type=SIGNAL, timeout=DEFINE_WAIT_MS)
        except WaitForEventTimeoutError:
            return state
        return await self.on_signal(state, got)

    async def tick(self, state: State) -> State:
        anchor = state.anchor_ms if state.anchor_ms is not None else self.created_ms
        due = state.definition.timing().next_after(anchor)
        timeout = min(max(due - self.now(), 1), MAX_WAIT_MS)  # the deadline is kept on replay
        try:
            got = await self.step.wait_for_event("tick", type=SIGNAL, timeout=timeout)
        except WaitForEventTimeoutError:
            return await self.guarded(state, "fire", lambda: self.fire(state, due))
        return await self.on_signal(state, got)

    async def on_signal(self, state: State, got: ReceivedEvent) -> State:
        signal = Signal.model_validate(got.payload)
        at_ms = int(got.timestamp.timestamp() * 1000)
        return await self.guarded(state, "signal", lambda: self.apply(state, signal, at_ms))

    async def guarded(self, state: State, name: str, make: Callable[[], Awaitable[State]]) -> State:
        """A snapshot step; one that fails for good (Redis gone for minutes) skips its work."""
        try:
            return await self.snapshot(name, make)
        except StepFailedError as exc:
            self.step.log.error(f"schedule step {name} failed: {exc.message}", category="schedule")
            return state

    async def apply(self, state: State, signal: Signal, at_ms: int) -> State:
        after = applied(state, signal, at_ms)
        if after.triggers and not after.deleted:
            after = await Starter(self, after).start(list(after.triggers))
        return after.model_copy(update={"triggers": ()})

    async def fire(self, state: State, due: int) -> State:
        """The tick `due` came (or, after downtime or a pause, passed): start its instance, or
        those catchup asks for."""
        now = self.now()
        if now < due:  # one piece of a wait longer than the longest wait_for_event
            return state
        timing, catchup = state.definition.timing(), state.definition.catchup
        ticks = timing.due(due, now, catchup, CATCHUP_LIMIT)
        anchor = max(timing.latest_at(now)[-1], due)
        started = await Starter(self, state).start(ticks)
        return started.model_copy(update={"anchor_ms": anchor})

    async def restart(self) -> None:
        """Start a new run (the token makes a repeated call start none). Refused when the
        ticker no longer runs this execution (terminated, or taken over)."""
        from durable.records import InstanceRecord
        from durable.replies import Snapshot

        ex = self.execution
        read = await self.store.read(ex.ref)
        if not isinstance(read, Snapshot):
            return
        inst = InstanceRecord.decode(read.instance)
        if inst.status != "running" or str(inst.fence) != str(ex.fence) or inst.run != ex.run:
            return
        token = f"continue-{ex.run}-{uuid.uuid5(uuid.NAMESPACE_URL, ex.ref.instance_id).hex}"
        await self.store.restart(ex.ref, token=token, answer_ttl_ms=RESTART_TTL_MS)


class Starter:
    """Starts the instances of some ticks, once each (ids name the ticks), by the overlap
    policy; answers the state after them."""

    def __init__(self, ticker: Ticker, state: State) -> None:
        self.ticker = ticker
        self.state = state
        self.definition = state.definition

    async def start(self, ticks: list[int]) -> State:
        if not ticks:
            return self.state
        d = self.definition
        ids = [instance_id_for(d.id, tick) for tick in ticks]
        found = await self._statuses(ids)
        fresh = [iid for iid in ids if found[iid] is None]
        previous = self.state.last_instance_id
        if d.overlap == "skip" and fresh and previous is not None and previous not in ids:
            status = (await self._statuses([previous]))[previous]
            if status is not None and status not in ("complete", "errored", "terminated"):
                self._log(f"skipped {', '.join(fresh)}: {previous} is still {status}")
                fresh = []
        created = await self._create(fresh)
        started = [iid for iid in ids if found[iid] is not None or iid in created]
        if not started:
            return self.state
        last = max(ids.index(iid) for iid in started)
        return self.state.model_copy(
            update={"last_tick_ms": ticks[last], "last_instance_id": ids[last]}
        )

    async def _statuses(self, ids: list[str]) -> dict[str, str | None]:
        from durable.records import InstanceRecord
        from durable.replies import Snapshot
        from durable.store import Ref

        store = self.ticker.store
        reads = await asyncio.gather(
            *(store.read(Ref(self.definition.workflow, iid)) for iid in ids)
        )
        return {
            iid: InstanceRecord.decode(r.instance).status.value if isinstance(r, Snapshot) else None
            for iid, r in zip(ids, reads, strict=True)
        }

    async def _create(self, ids: list[str]) -> set[str]:
        from durable import validation
        from durable.errors import ClientError
        from durable.store import Ref

        if not ids:
            return set()
        d, store = self.definition, self.ticker.store
        target = self.ticker.registry.get(d.workflow)
        try:
            value = d.params if target is None else validation.params(target, d.params)
            params = validation.sized_json(value, "params", store.settings.max_payload_bytes)
        except ClientError as exc:  # the workflow's params model changed since: skip the tick
            self._log(f"cannot start {', '.join(ids)}: {exc.message}", "error")
            return set()
        version = "" if target is None or target.version is None else target.version
        items = [(Ref(d.workflow, iid), params) for iid in ids]
        made = await store.create_many(items, version=version)
        created = {iid for iid, one in zip(ids, made, strict=True) if one.created}
        if created:
            self._log(f"started {', '.join(sorted(created))}")
        return created

    def _log(self, message: str, level: str = "info") -> None:
        log = self.ticker.step.log
        (log.error if level == "error" else log.info)(message, category="schedule")


__all__ = ["CATCHUP_LIMIT", "TICKER", "TICKS_PER_RUN", "ticker_id", "ticker_workflow"]
