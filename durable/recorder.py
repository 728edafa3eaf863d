"""One pass over a run's recorded steps: what the pass has reached, the claim of each step call
against the record, and the writes of new records under the lease's fencing token.

The kinds of step build on it (durable.attempts, durable.waits, durable.patches); together they
make durable.engine.Execution.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, Literal, NoReturn

from durable import observe
from durable.clock import Clock
from durable.errors import LeaseLost, NondeterminismError, StepLimitError, SuspendExecution
from durable.logbuffer import LogBuffer
from durable.names import check_step_name, step_key
from durable.records import InstanceRecord, StepError, StepRecord
from durable.replayed import step_failed
from durable.replies import Exists, Fenced, LimitReached
from durable.sequence import NEW_STEP_ROUNDS, StepSequence
from durable.settings import Settings
from durable.store import Ref, Store
from durable.types import LogLevel, StepStatus, StepType

# What an errored record without its error (never written by durable) raises on replay.
_UNRECORDED = StepError("StepFailedError", "the step failed; its error was not recorded")


class Recorder:
    """The state of one pass of a workflow function while this worker holds the lease."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        ref: Ref,
        fence: str,
        instance: InstanceRecord,
        steps: Mapping[str, StepRecord],
        max_steps: int | None = None,
    ) -> None:
        self.store = store
        self.settings: Settings = store.settings
        self.clock = clock
        self.ref = ref
        self.fence = fence
        self.instance = instance
        self.run = instance.run
        self.recorded: dict[str, StepRecord] = dict(steps)
        self.next_order = max((rec.order for rec in steps.values()), default=0) + 1
        self.calls: dict[str, int] = {}  # calls of each step name in this pass
        self.dues: list[int] = []  # when the run wants to run again, once it suspends
        self.logs = LogBuffer(self.now, instance.workflow_logs)
        self.nondeterminism: NondeterminismError | None = None
        self.sequence = StepSequence(self.recorded)
        self.patches: dict[str, bool] = {}  # step.patched() answers of this pass
        self.pause_requested = instance.pause_requested
        self.budget = max_steps  # steps this pass may still run (the API's runner tick)
        self.active: set[asyncio.Task[Any]] = set()  # tasks running a step attempt
        self.lost = False
        # consecutive executions that died without recording progress (worker crashes)
        self.interruptions = instance.interruptions
        self.woken_at_ms = 0  # when the job this pass took was due (Acquired.due_ms)

    def now(self) -> int:
        return self.clock.now_ms()

    def suspend(self, due: int) -> NoReturn:
        """Unwind the workflow function; the run continues at `due` (Redis time, ms)."""
        self.dues.append(due)
        raise SuspendExecution()

    def boundary(self) -> None:
        """After a step's outcome: a requested pause takes effect here."""
        if self.pause_requested:
            self.suspend(self.now())

    def log(self, level: LogLevel, message: str, data: Any, category: str) -> None:
        self.logs.log(level, message, data, category)

    def replay(self, rec: StepRecord) -> Any:
        """A recorded outcome: its result, or its error raised again."""
        if rec.status == StepStatus.ERRORED:
            raise step_failed(rec.error or _UNRECORDED)
        return rec.result

    # -- claims --------------------------------------------------------------------------------

    async def claim(self, name: str, step_type: StepType) -> str:
        """The key of a step call, checked against the run's recorded steps; a call new to the
        run runs only once the pass has reached every recorded step (durable.sequence)."""
        key = self._claim_key(name, step_type)
        if key not in self.recorded and not self.sequence.complete:
            if not await self.settled(NEW_STEP_ROUNDS) and self.nondeterminism is None:
                pending = self.sequence.pending()
                self.nondeterminism = NondeterminismError(
                    key, None, step_type.value, unvisited=pending
                )
            if self.nondeterminism is not None:
                raise self.nondeterminism
        if self.pause_requested or (self.budget is not None and self.budget <= 0):
            self.suspend(self.now())
        return key

    def _claim_key(self, name: str, step_type: StepType) -> str:
        if self.nondeterminism is not None:  # no step runs once replay went off the record
            raise self.nondeterminism
        check_step_name(name)
        call = self.calls.get(name, 0)
        self.calls[name] = call + 1
        key = step_key(name, call)
        self.visit(key, step_type)
        return key

    def visit(self, key: str, step_type: StepType) -> None:
        rec = self.recorded.get(key)
        if rec is not None and rec.type != step_type:
            self.nondeterminism = NondeterminismError(key, str(rec.type), step_type.value)
            raise self.nondeterminism
        self.sequence.visit(key)

    async def settled(self, rounds: int) -> bool:
        """Wait for concurrent branches to reach their recorded steps. The waiting task counts
        as active, so an execution ending meanwhile waits for its verdict."""
        task = asyncio.current_task()
        added = task is not None and task not in self.active
        if task is not None:
            self.active.add(task)
        try:
            return await self.sequence.settle(rounds)
        finally:
            if added and task is not None:
                self.active.discard(task)

    def new_record(self, key: str, name: str, step_type: StepType) -> StepRecord:
        """The recorded step at `key`, or a new running one next in the run's order."""
        rec = self.recorded.get(key)
        if rec is not None:
            return rec
        order, self.next_order = self.next_order, self.next_order + 1
        observe.get().step(self.ref.workflow, step_type, "started")
        now = self.now()
        return StepRecord(
            StepStatus.RUNNING, name, step_type, order, created_at_ms=now, updated_at_ms=now
        )

    # -- writes --------------------------------------------------------------------------------

    def refused(self, reply: Fenced | LimitReached) -> NoReturn:
        """A step write was refused: the lease is lost, or the run is full."""
        if isinstance(reply, Fenced):
            self.lost = True
            raise LeaseLost()
        raise StepLimitError(self.settings.max_steps_per_run)

    async def save(
        self,
        key: str,
        record: StepRecord,
        mode: Literal["start", "commit"] = "commit",
        *,
        result_json: str | None = None,
    ) -> StepRecord | None:
        """Write a step record (a "start" leaves the count of interrupted executions alone);
        returns the winning record if a completed or errored one got there first."""
        lines, count = self.logs.take()
        saved = await self.store.save_step(
            self.ref, fence=self.fence, run=self.run, key=key,
            record=record.encode(result_json=result_json), mode=mode, log_lines=lines,
            log_count=count, max_steps=self.settings.max_steps_per_run,
        )  # fmt: skip
        if isinstance(saved, Fenced | LimitReached):
            self.refused(saved)
        if isinstance(saved, Exists):
            winner = StepRecord.decode(saved.record)
            self.recorded[key] = winner
            return winner
        if saved.pause_requested:
            self.pause_requested = True
        if mode == "commit":
            self.interruptions = 0
        return None
