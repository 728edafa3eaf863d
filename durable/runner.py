"""Advancing instances: take the lease, run one execution, and record how it ended."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from redis.exceptions import RedisError

from durable import children, gate, observe
from durable.clock import Clock
from durable.engine import Execution
from durable.errors import LeaseLost, StepResultError, SuspendExecution
from durable.logs import bound
from durable.records import InstanceRecord, StepRecord, dumps
from durable.replayed import error_record
from durable.replies import Acquired, Early, Fenced, Tag
from durable.step import Step
from durable.store import Ref, Store, ref_from_job_id
from durable.types import Status
from durable.workflow import Registry, Workflow, WorkflowEvent

log = logging.getLogger("durable.runner")

INLINE_RERUNS = 25
# A worker whose clock runs ahead of Redis picks timers early; it waits out a gap this small.
EARLY_WAIT_MS = 2000

OutcomeKind = Literal["complete", "error", "suspend", "lost"]


@dataclass
class Outcome:
    kind: OutcomeKind
    value: Any = None


def owner_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Runner:
    """Leases instances whose jobs come due (from arq or a runner tick), runs their workflow
    code one execution at a time, and records how each execution ended."""

    def __init__(
        self, store: Store, registry: Registry, *, clock: Clock | None = None, owner: str = ""
    ) -> None:
        self.store = store
        self.registry = registry
        self.clock = clock or Clock()
        self.owner = owner or owner_name()

    async def advance(self, ref: Ref, job_id: str = "", *, max_steps: int | None = None) -> int:
        """Advance an instance as far as it goes; returns the number of executions run."""
        workflow = self._workflow(ref, job_id)
        if workflow is None:
            return 0
        got = await self._acquire(ref, job_id)
        return 0 if got is None else await self._run(workflow, ref, got, max_steps)

    async def run_leased(self, ref: Ref, job_id: str, got: Acquired) -> int:
        """Advance an instance whose lease the caller took already (a durable worker's take of
        job `job_id`), once its job is due: a take may lease a timer a little ahead. One of a
        workflow this registry lacks goes back to the queue, due again in a lease TTL, for a
        worker that has it."""
        if got.due_ms > got.now_ms:
            await asyncio.sleep((got.due_ms - got.now_ms) / 1000)
            got = dataclasses.replace(got, now_ms=got.due_ms)  # Redis' clock has reached it
        workflow = self._workflow(ref, job_id)
        if workflow is None:
            ttl = self.store.settings.lease_ttl_ms
            run = InstanceRecord.decode(got.instance).run
            await self.store.release(
                ref, fence=got.fence, run=run, due_ms=got.now_ms + ttl, log_lines="",
                log_count=0, mode="defer",
            )  # fmt: skip
            return 0
        return await self._run(workflow, ref, got, None)

    def _workflow(self, ref: Ref, job_id: str) -> Workflow | None:
        workflow = self.registry.get(ref.workflow)
        if workflow is None:
            log.error(
                "no workflow %r in this worker's registry; job %s skipped", ref.workflow, job_id
            )
        return workflow

    async def _acquire(self, ref: Ref, job_id: str) -> Acquired | None:
        """The lease for `job_id`, waiting out a wake-up a little ahead of Redis' clock."""
        ttl = self.store.settings.lease_ttl_ms
        while True:
            got = await self.store.acquire(ref, job_id=job_id, owner=self.owner, ttl_ms=ttl)
            if isinstance(got, Early) and got.due_ms - got.now_ms <= EARLY_WAIT_MS:
                await asyncio.sleep((got.due_ms - got.now_ms) / 1000)
                job_id = got.job_id
                continue
            return got if isinstance(got, Acquired) else None

    async def _run(self, workflow: Workflow, ref: Ref, got: Acquired, max_steps: int | None) -> int:
        """Run executions while the lease is held and the run must go on at once (an event
        arrived meanwhile, a zero backoff), up to INLINE_RERUNS; returns how many ran."""
        if workflow.limits.declared and not await gate.admit(self.store, workflow, ref, got):
            return 0  # queued behind a limit (durable/gate.py)
        runs = 0
        while True:
            self.clock.sync(got.now_ms)
            execution = self._execution(ref, got, max_steps)
            runs += 1
            with bound(workflow=ref.workflow, instance=ref.instance_id, run=execution.run):
                executing = self._execute(workflow, execution)
                next_job = await observe.get().execution(executing, ref, got)  # metrics, spans
            if next_job is None or runs >= INLINE_RERUNS:
                return runs
            again = await self._acquire(ref, next_job)
            if again is None:
                return runs
            got = again

    async def tick(self, *, max_instances: int = 10, max_steps: int | None = 100) -> int:
        """Advance the instances whose jobs are due, in this process (a runner tick, for tests
        and scripts without workers): at most `max_instances` of them, `max_steps` steps each.
        Returns how many it advanced."""
        reaped = await self.store.reap()
        await children.carry(self.store, reaped.swept)
        now = await self.store.redis_time_ms()
        processed = 0
        for job_id in await self.store.due_jobs(now, max_instances * 4):
            ref = ref_from_job_id(self.store.settings.prefix, job_id)
            if ref is not None and processed < max_instances:
                processed += bool(await self.advance(ref, job_id, max_steps=max_steps))
        return processed

    def _execution(self, ref: Ref, got: Acquired, max_steps: int | None) -> Execution:
        instance = InstanceRecord.decode(got.instance)
        steps = {key: StepRecord.decode(raw) for key, raw in got.steps.items()}
        execution = Execution(self.store, self.clock, ref, got.fence, instance, steps, max_steps)
        execution.woken_at_ms = got.due_ms
        return execution

    async def _execute(self, workflow: Workflow, execution: Execution) -> str | None:
        main = asyncio.ensure_future(workflow.fn(self._event(workflow, execution), Step(execution)))
        renewer = Renewer(self, execution, main)
        try:
            outcome = await self._outcome(main, execution)
        except asyncio.CancelledError:
            renewer.cancel()
            await asyncio.shield(self._handover(execution))
            raise
        renewer.cancel()
        return await self._finalize(execution, outcome)

    def _event(self, workflow: Workflow, execution: Execution) -> WorkflowEvent:
        instance = execution.instance
        payload: Any = instance.params
        if workflow.params is not None:
            payload = workflow.params.model_validate(payload)
        created = datetime.fromtimestamp((instance.created_at_ms or 0) / 1000, UTC)
        return WorkflowEvent(
            payload=payload, timestamp=created, instance_id=execution.ref.instance_id
        )

    async def _outcome(self, main: asyncio.Future[Any], execution: Execution) -> Outcome:
        try:
            outcome = Outcome("complete", await main)
        except SuspendExecution:
            outcome = Outcome("suspend")
        except LeaseLost:
            outcome = Outcome("lost")
        except asyncio.CancelledError:
            if not execution.lost:
                raise
            outcome = Outcome("lost")
        except Exception as exc:  # the workflow raised: the instance errors
            outcome = Outcome("error", exc)
        while execution.active:  # parallel steps still in flight finish and record
            await asyncio.wait(list(execution.active))
        if execution.lost:
            return Outcome("lost")
        if execution.nondeterminism is not None:
            return Outcome("error", execution.nondeterminism)
        return outcome

    async def _finalize(self, execution: Execution, outcome: Outcome) -> str | None:
        """Record how the execution ended; returns the job to run next at once, if any."""
        observe.get().execution_ended(execution.ref.workflow, outcome.kind)
        if outcome.kind == "lost":
            return None
        if outcome.kind == "suspend":
            return await self._suspend(execution)
        ended, value = self._ending(outcome)
        if await self._finish(execution, ended, value):
            ref = execution.ref
            await self._leave_gate(execution)
            if ended == "complete":
                log.info("instance %s/%s complete", ref.workflow, ref.instance_id)
            else:
                log.info("instance %s/%s errored: %r", ref.workflow, ref.instance_id, value)
        return None

    async def _leave_gate(self, execution: Execution) -> None:
        """A run of a workflow with limits ended: its slot goes to the next in line."""
        workflow = self.registry.get(execution.ref.workflow)
        if workflow is not None and workflow.limits.declared:
            instance = execution.instance
            await gate.leave(self.store, workflow, execution.ref, instance.params, execution.run)

    def _ending(self, outcome: Outcome) -> tuple[Literal["complete", "errored"], Any]:
        """The run's end as stored: its output's JSON, or why it errored. An output that cannot
        be stored errors the run."""
        if outcome.kind == "complete":
            try:
                encoded = dumps(outcome.value)
                if len(encoded.encode()) > self.store.settings.max_payload_bytes:
                    raise ValueError("the output exceeds the payload size limit")
                return "complete", encoded
            except (TypeError, ValueError) as exc:
                return "errored", StepResultError(f"workflow output cannot be stored: {exc}")
        return "errored", outcome.value

    async def _finish(
        self, execution: Execution, ended: Literal["complete", "errored"], value: Any
    ) -> bool:
        """Record how the run ended; False when its lease was lost first."""
        stored = value if ended == "complete" else dumps(error_record(value))
        lines, count = execution.logs.take()
        done = await self.store.finish(
            execution.ref, fence=execution.fence, run=execution.run, outcome=ended,
            value=stored, log_lines=lines, log_count=count,
        )  # fmt: skip
        if isinstance(done, Fenced):
            _lost(execution)
            return False
        if done.outbox:  # a child's outcome, for the parent awaiting it
            await children.carry(self.store, done.outbox, _ended(execution, ended, stored))
        return True

    async def _suspend(self, execution: Execution) -> str | None:
        """Give the lease back until the earliest time the run asked for; the job to run at
        once when that time has come already (or an event arrived meanwhile)."""
        lines, count = execution.logs.take()
        due = min(execution.dues, default=self.clock.now_ms())
        released = await self.store.release(
            execution.ref, fence=execution.fence, run=execution.run, due_ms=due,
            log_lines=lines, log_count=count, mode="suspend",
        )  # fmt: skip
        if isinstance(released, Fenced):
            _lost(execution)
            return None
        return released.job_id if released.status == Tag.QUEUED else None

    async def _handover(self, execution: Execution) -> None:
        """Shutdown while running: give the instance back so another worker takes it now."""
        if execution.lost:
            return
        lines, count = execution.logs.take()
        with contextlib.suppress(RedisError, OSError):
            released = await self.store.release(
                execution.ref, fence=execution.fence, run=execution.run,
                due_ms=self.clock.now_ms(), log_lines=lines, log_count=count, mode="handover",
            )  # fmt: skip
            if isinstance(released, Fenced):
                _lost(execution)

    async def _renew(self, execution: Execution, main: asyncio.Future[Any]) -> None:
        """Renew the lease now and every third of its TTL, until cancelled or refused."""
        ttl = self.store.settings.lease_ttl_ms
        while True:
            try:
                renewed = await self.store.renew(execution.ref, fence=execution.fence, ttl_ms=ttl)
            except (RedisError, OSError) as exc:
                log.warning("lease renewal failed, retrying: %s", exc)
            else:
                if isinstance(renewed, Fenced):
                    execution.lost = True
                    main.cancel()
                    for task in list(execution.active):
                        task.cancel()
                    return
                if renewed.pause_requested:
                    execution.pause_requested = True
            await asyncio.sleep(ttl / 3000)


class Renewer:
    """Renews an execution's lease from a third of its TTL on. Most executions end sooner: for
    them a timer, not a task, is all it costs."""

    def __init__(self, runner: Runner, execution: Execution, main: asyncio.Future[Any]) -> None:
        self.task: asyncio.Task[None] | None = None
        delay = runner.store.settings.lease_ttl_ms / 3000
        start = functools.partial(self._start, runner, execution, main)
        self.timer = asyncio.get_running_loop().call_later(delay, start)

    def _start(self, runner: Runner, execution: Execution, main: asyncio.Future[Any]) -> None:
        self.task = asyncio.ensure_future(runner._renew(execution, main))

    def cancel(self) -> None:
        self.timer.cancel()
        if self.task is not None:
            self.task.cancel()


def _ended(execution: Execution, ended: str, stored: str) -> InstanceRecord:
    """The instance as its finish left it, for carrying its outcome to its parent."""
    status = Status.COMPLETE if ended == "complete" else Status.ERRORED
    output, error = (stored, None) if ended == "complete" else (None, stored)
    return dataclasses.replace(
        execution.instance, status=status, output_json=output, error_json=error
    )


def _lost(execution: Execution) -> None:
    """A finish or release was refused: the lease went to someone else first (a restart, a
    termination, or recovery after this worker looked dead), and its new holder carries on."""
    execution.lost = True
    ref = execution.ref
    log.debug("lease of %s/%s lost before its run was recorded", ref.workflow, ref.instance_id)
