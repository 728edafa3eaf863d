"""The replay engine: runs a workflow function against its recorded steps.

The replay contract: a recorded step returns its result or re-raises its recorded error; a
different step type at a recorded key raises NondeterminismError; a cancelled attempt is never
recorded as a result. Every write carries the lease's fencing token.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import json
import logging
import os
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal, NoReturn

from durable import observe
from durable.calling import is_async, takes_context
from durable.clock import Clock
from durable.durations import Duration, datetime_to_ms, to_ms
from durable.errors import (
    InvalidStepError,
    NondeterminismError,
    NonRetryableError,
    StepLimitError,
    StepResultError,
    StepTimeoutError,
    SuspendExecution,
    WaitForEventTimeoutError,
    WorkerLostError,
)
from durable.names import ID_MAX, check_step_name, patch_key, step_key, valid_name
from durable.records import add_failed_attempt, clean_text, dumps, encode_step, iso, step_head
from durable.replayed import step_error_record, step_failed
from durable.replies import Exists, Fenced, LimitReached, Tag
from durable.retries import Retries, as_retries
from durable.sequence import NEW_STEP_ROUNDS, PATCH_ROUNDS, StepSequence
from durable.settings import Settings
from durable.step import ReceivedEvent, StepContext
from durable.store import Ref, Store
from durable.types import JSONDict, LogLevel, StepStatus, StepType

log = logging.getLogger("durable.engine")

MAX_WAIT_MS = 365 * 86_400_000
RUNNING_MARK_DELAY_S = 0.02
RETRY_LOG_CATEGORY = "retry"

_current_step: contextvars.ContextVar[tuple[str, int] | None] = contextvars.ContextVar(
    "durable_current_step", default=None
)


class LeaseLost(BaseException):
    """The instance was taken from this worker (terminated, restarted or lease expired)."""


class Execution:
    """One pass of a workflow function while this worker holds the instance's lease."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        ref: Ref,
        fence: str,
        inst: dict[str, str],
        steps: dict[str, str],
        max_steps: int | None = None,
    ) -> None:
        self.store = store
        self.settings: Settings = store.settings
        self.clock = clock
        self.ref = ref
        self.fence = fence
        self.inst = inst
        self.run = int(inst["run"])
        self.recorded: dict[str, JSONDict] = {k: json.loads(v) for k, v in steps.items()}
        self.next_q = max((r.get("q", 0) for r in self.recorded.values()), default=0) + 1
        self.counts: dict[str, int] = {}
        self.dues: list[int] = []
        self.logs: list[str] = []
        self.workflow_logs_pending = 0
        self.workflow_log_index = 0
        self.workflow_logs_recorded = int(inst.get("logn") or 0)
        self.nondeterminism: NondeterminismError | None = None
        self.sequence = StepSequence(self.recorded)
        self.patches: dict[str, bool] = {}  # step.patched() answers of this pass
        self.pause_requested = inst.get("pause") == "1"
        self.budget = max_steps
        self.active: set[asyncio.Task[Any]] = set()
        self.lost = False
        # consecutive executions that died without recording progress (worker crashes)
        self.interruptions = int(inst.get("lost") or 0)

    # -- boundaries ----------------------------------------------------------------------------

    def now(self) -> int:
        return self.clock.now_ms()

    def suspend(self, due: int) -> None:
        self.dues.append(due)
        raise SuspendExecution()

    async def _claim(self, name: str, step_type: StepType) -> str:
        """The key of a step call, checked against the run's recorded steps; a call new to the
        run runs only once the pass has reached every recorded step (durable.sequence)."""
        key = self._claim_key(name, step_type)
        if key not in self.recorded and not self.sequence.complete:
            if not await self._settled(NEW_STEP_ROUNDS) and self.nondeterminism is None:
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
        n = self.counts.get(name, 0)
        self.counts[name] = n + 1
        key = step_key(name, n)
        self._visit(key, step_type)
        return key

    def _visit(self, key: str, step_type: StepType) -> None:
        rec = self.recorded.get(key)
        if rec is not None and rec.get("t") != step_type:
            self.nondeterminism = NondeterminismError(key, str(rec.get("t")), step_type.value)
            raise self.nondeterminism
        self.sequence.visit(key)

    async def _settled(self, rounds: int) -> bool:
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

    def _new_record(self, key: str, name: str, step_type: StepType) -> JSONDict:
        rec = self.recorded.get(key)
        if rec is not None:
            return dict(rec)
        q, self.next_q = self.next_q, self.next_q + 1
        observe.get().step(self.ref.workflow, step_type, "started")
        now = self.now()
        return {"s": StepStatus.RUNNING, "n": name, "t": step_type, "q": q, "c": now, "u": now}

    # -- writes --------------------------------------------------------------------------------

    def _take_logs(self) -> tuple[str, int]:
        lines, count = self.logs, self.workflow_logs_pending
        self.logs, self.workflow_logs_pending = [], 0
        return "\n".join(lines), count

    def _refused(self, reply: Fenced | LimitReached) -> NoReturn:
        """A step write was refused: the lease is lost, or the run is full."""
        if isinstance(reply, Fenced):
            self.lost = True
            raise LeaseLost()
        raise StepLimitError(self.settings.max_steps_per_run)

    async def save(
        self, key: str, record: str, mode: Literal["start", "commit"] = "commit"
    ) -> JSONDict | None:
        """Write a step record; returns the winning record if another write got there first."""
        lines, count = self._take_logs()
        saved = await self.store.save_step(
            self.ref, fence=self.fence, run=self.run, key=key, record=record, mode=mode,
            log_lines=lines, log_count=count, max_steps=self.settings.max_steps_per_run,
        )  # fmt: skip
        if isinstance(saved, Fenced | LimitReached):
            self._refused(saved)
        if isinstance(saved, Exists):
            winner: JSONDict = json.loads(saved.record)
            self.recorded[key] = winner
            return winner
        if saved.pause_requested:
            self.pause_requested = True
        if mode == "commit":
            self.interruptions = 0
        return None

    def log(self, level: LogLevel, message: str, data: Any, category: str) -> None:
        current = _current_step.get()
        if current is None:
            index = self.workflow_log_index
            self.workflow_log_index += 1
            if index < self.workflow_logs_recorded:
                return  # written by an earlier pass over the same code
            self.workflow_logs_pending += 1
        key, attempt = current if current else (None, None)
        self._append_log(key, attempt, level, category, message, data)

    def _append_log(
        self,
        key: str | None,
        attempt: int | None,
        level: LogLevel,
        category: str,
        message: Any,
        data: Any,
    ) -> None:
        """Buffer a log line; it is written by the next save, in the same round trip."""
        record = {"k": key, "a": attempt, "l": level, "g": category, "m": str(message)}
        record["d"] = data
        record["c"] = self.now()
        line = json.dumps(record, default=str, separators=(",", ":"), ensure_ascii=False)
        self.logs.append(clean_text(line))

    # -- step.do -------------------------------------------------------------------------------

    async def do(
        self,
        name: str,
        fn: Callable[..., Any],
        *,
        retries: Retries | dict[str, Any] | None,
        timeout: Duration | None,
    ) -> Any:
        policy = as_retries(retries)
        timeout_ms = to_ms(timeout) if timeout is not None else None
        key = await self._claim(name, StepType.DO)
        rec = self.recorded.get(key)
        if rec is not None:
            if rec["s"] == StepStatus.COMPLETED:
                return rec.get("r")
            if rec["s"] == StepStatus.ERRORED:
                raise step_failed(rec["e"])
            if rec["s"] == StepStatus.WAITING and rec.get("nr", 0) > self.now():
                self.suspend(rec["nr"])
        task = asyncio.current_task()
        if task is not None:
            self.active.add(task)
        try:
            return await self._attempt(key, name, fn, policy, timeout_ms)
        finally:
            if task is not None:
                self.active.discard(task)

    async def _attempt(
        self,
        key: str,
        name: str,
        fn: Callable[..., Any],
        policy: Retries,
        timeout_ms: int | None,
    ) -> Any:
        rec = self._new_record(key, name, StepType.DO)
        # a "running" record left behind, or a lease lost without progress, means the last
        # attempt was interrupted: run it again without using the retry budget
        interrupted = key in self.recorded and rec["s"] == StepStatus.RUNNING
        rec["a"] = rec.get("a", 0) if interrupted or self.interruptions else rec.get("a", 0) + 1
        rec["a"] = max(rec["a"], 1)
        rec["m"] = max(policy.max_attempts, rec.get("m", 0), rec["a"])
        rec["to"] = timeout_ms
        rec["i"] = max(rec.get("i", 0), self.interruptions) or None
        rec["s"], rec["u"], rec["nr"] = StepStatus.RUNNING, self.now(), None
        if self.interruptions >= self.settings.max_interruptions:
            return await self._fail(key, rec, WorkerLostError(key, self.interruptions))
        if self.budget is not None:
            self.budget -= 1
        mark = RunningMark(self, key, encode_step(rec))
        try:
            invoked = self._invoke(key, fn, rec["a"], timeout_ms)
            value = await observe.get().attempt(invoked, self.ref, self.run, key, rec["a"])
        except Exception as exc:  # a failed attempt: retry or fail the step
            await mark.settle()
            return await self._failed_attempt(key, rec, policy, exc)
        except BaseException:
            mark.cancel()
            raise
        await mark.settle()
        return await self._succeed(key, rec, value)

    async def _invoke(
        self, key: str, fn: Callable[..., Any], attempt: int, timeout_ms: int | None
    ) -> Any:
        iid = self.ref.instance_id
        ctx = StepContext(attempt, key, iid, f"{self.ref.workflow}/{iid}/{self.run}/{key}")
        args = (ctx,) if takes_context(fn) else ()
        token = _current_step.set((key, attempt))
        try:
            call = fn(*args) if is_async(fn) else asyncio.to_thread(fn, *args)
            try:
                result = await asyncio.wait_for(call, timeout_ms / 1000 if timeout_ms else None)
                if inspect.isawaitable(result):
                    result = await asyncio.wait_for(
                        result, timeout_ms / 1000 if timeout_ms else None
                    )
            except TimeoutError as exc:
                raise StepTimeoutError(key, timeout_ms or 0) from exc
        finally:
            _current_step.reset(token)
        return result

    async def _succeed(self, key: str, rec: JSONDict, value: Any) -> Any:
        try:
            encoded = dumps(value)
        except (TypeError, ValueError) as exc:
            error = StepResultError(f"step {key!r} returned a value that is not JSON: {exc}")
            return await self._fail(key, rec, error)
        limit = self.settings.max_payload_bytes
        if len(encoded.encode()) > limit:
            error = StepResultError(f"step {key!r} returned {len(encoded)} bytes; limit {limit}")
            return await self._fail(key, rec, error)
        rec.update(s=StepStatus.COMPLETED, u=self.now(), e=None)
        rec.pop("r", None)
        record = encode_step(rec)[:-1] + ',"r":' + encoded + "}"
        winner = await self.save(key, record)
        if winner is not None:
            return self._replay(winner)
        observe.get().step(self.ref.workflow, StepType.DO, "completed")
        self._boundary()
        return json.loads(encoded)

    def _replay(self, rec: JSONDict) -> Any:
        if rec["s"] == StepStatus.ERRORED:
            raise step_failed(rec["e"])
        return rec.get("r")

    def _boundary(self) -> None:
        if self.pause_requested:
            self.suspend(self.now())

    async def _failed_attempt(
        self, key: str, rec: JSONDict, policy: Retries, exc: Exception
    ) -> Any:
        final = isinstance(exc, NonRetryableError | StepResultError) or rec["a"] >= rec["m"]
        if final:
            return await self._fail(key, rec, exc)
        now = self.now()
        due = now + policy.delay_ms(rec["a"])
        error = step_error_record(exc)
        rec.update(s=StepStatus.WAITING, u=now, e=error, nr=due)
        rec.pop("r", None)
        failure = add_failed_attempt(rec, error, now)
        self._retry_log(key, rec, failure["e"], due)
        winner = await self.save(key, encode_step(rec))
        if winner is not None:
            return self._replay(winner)
        observe.get().step(self.ref.workflow, StepType.DO, "retried")
        log.info(
            "step %s of %s/%s failed on attempt %d/%d (%s: %s); next attempt at %s",
            key, self.ref.workflow, self.ref.instance_id, rec["a"], rec["m"],
            failure["e"]["name"], failure["e"]["message"], iso(due),
        )  # fmt: skip
        self.suspend(due)

    def _retry_log(self, key: str, rec: JSONDict, error: JSONDict, due: int) -> None:
        """The history line of a scheduled retry, tagged with the attempt that failed."""
        at, attempt = iso(due), rec["a"]
        message = (
            f"{error['name']}: {error['message']}; retrying (attempt {attempt + 1}/{rec['m']}) "
            f"at {at}"
        )
        data = {"error": error, "nextAttempt": attempt + 1, "nextAttemptAt": at}
        self._append_log(key, attempt, LogLevel.WARN, RETRY_LOG_CATEGORY, message, data)

    async def _fail(self, key: str, rec: JSONDict, exc: BaseException) -> Any:
        now = self.now()
        error = step_error_record(exc)
        rec.update(s=StepStatus.ERRORED, u=now, e=error, nr=None)
        rec.pop("r", None)
        add_failed_attempt(rec, error, now)
        winner = await self.save(key, encode_step(rec))
        observe.get().step(self.ref.workflow, StepType.DO, "failed")
        return self._replay(winner or rec)

    # -- sleeps --------------------------------------------------------------------------------

    async def sleep(self, name: str, duration: Duration) -> None:
        await self._sleep(name, to_ms(duration), relative=True)

    async def sleep_until(self, name: str, when: datetime | int | float) -> None:
        if isinstance(when, datetime):
            target = datetime_to_ms(when)
        elif isinstance(when, int | float) and not isinstance(when, bool):
            target = int(when)
        else:
            raise InvalidStepError(f"sleep_until needs an aware datetime or epoch ms, got {when!r}")
        await self._sleep(name, target, relative=False)

    async def _sleep(self, name: str, amount: int, *, relative: bool) -> None:
        key = await self._claim(name, StepType.SLEEP)
        rec = self._new_record(key, name, StepType.SLEEP)
        if rec["s"] == StepStatus.COMPLETED:
            return
        now = self.now()
        if key not in self.recorded:
            rec.update(s=StepStatus.WAITING, w=amount + now if relative else amount, a=0, m=1)
            await self.save(key, encode_step(rec))
            self.suspend(rec["w"])
        if now < rec["w"]:
            self.suspend(rec["w"])
        rec.update(s=StepStatus.COMPLETED, u=now)
        await self.save(key, encode_step(rec))
        observe.get().step(self.ref.workflow, StepType.SLEEP, "completed")
        self._boundary()

    # -- events --------------------------------------------------------------------------------

    async def wait_for_event(self, name: str, *, type: str, timeout: Duration) -> ReceivedEvent:
        if not valid_name(type, ID_MAX):
            raise InvalidStepError(f"invalid event type {type!r}")
        timeout_ms = to_ms(timeout)
        if not 0 < timeout_ms <= MAX_WAIT_MS:
            raise InvalidStepError("wait_for_event timeout must be > 0 and at most 365 days")
        key = await self._claim(name, StepType.WAIT_FOR_EVENT)
        rec = self._new_record(key, name, StepType.WAIT_FOR_EVENT)
        if rec["s"] == StepStatus.COMPLETED:
            return _received(rec["r"])
        if rec["s"] == StepStatus.ERRORED:
            raise WaitForEventTimeoutError(key, type)
        rec.setdefault("w", self.now() + timeout_ms)
        rec.update(et=type, a=0, m=1)
        lines, count = self._take_logs()
        message = WaitForEventTimeoutError(key, type).message
        resolved = await self.store.wait_event(
            self.ref, fence=self.fence, run=self.run, key=key, event_type=type,
            deadline_ms=rec["w"], head=step_head(rec), log_lines=lines, log_count=count,
            max_steps=self.settings.max_steps_per_run, timeout_message=message,
        )  # fmt: skip
        if isinstance(resolved, Fenced | LimitReached):
            self._refused(resolved)
        self.recorded[key] = json.loads(resolved.record)
        if resolved.outcome == Tag.EVENT:
            event = self.recorded[key]["r"]
            observe.get().step(self.ref.workflow, StepType.WAIT_FOR_EVENT, "completed")
            observe.get().event_consumed(self.ref.workflow, event["timestamp"], rec["c"])
            self._boundary()
            return _received(self.recorded[key]["r"])
        if resolved.outcome == Tag.TIMEOUT:
            observe.get().step(self.ref.workflow, StepType.WAIT_FOR_EVENT, "failed")
            raise WaitForEventTimeoutError(key, type)
        self.suspend(rec["w"])
        raise AssertionError("unreachable")  # pragma: no cover

    # -- patches -------------------------------------------------------------------------------

    async def patched(self, change_id: str) -> bool:
        """True when the run records `change_id` here or recorded it before; False when it
        recorded later steps without it (it took the old path). One answer per pass."""
        key = patch_key(change_id)
        if self.nondeterminism is not None:
            raise self.nondeterminism
        if change_id in self.patches:
            return self.patches[change_id]
        if key in self.recorded:
            self._visit(key, StepType.PATCH)
            taken = True
        else:
            taken = self.sequence.complete or await self._settled(PATCH_ROUNDS)
            if self.nondeterminism is not None:
                raise self.nondeterminism
            if change_id in self.patches:  # a concurrent call answered while this one waited
                return self.patches[change_id]
            self.patches[change_id] = taken
            if taken:
                await self._mark_patch(key, change_id)
        self.patches.setdefault(change_id, taken)
        return taken

    async def _mark_patch(self, key: str, change_id: str) -> None:
        """Record the marker: one save, no pause check and no step budget (it runs nothing).
        Saved like a running mark, so it leaves the count of interrupted executions alone."""
        rec = self._new_record(key, change_id, StepType.PATCH)
        rec["s"] = StepStatus.COMPLETED
        self.sequence.visit(key)
        await self.save(key, encode_step(rec), "start")

    def deprecate_patch(self, change_id: str) -> None:
        """Accept a recorded `change_id` marker without asking: code that dropped the patch's
        old path replays runs that recorded it."""
        key = patch_key(change_id)
        if key in self.recorded:
            self._visit(key, StepType.PATCH)


class RunningMark:
    """Records a step attempt as `running` only once it has run for a moment: fast steps cost
    one write (their outcome), slow ones show up as running while they work."""

    def __init__(self, execution: Execution, key: str, record: str) -> None:
        self._write: asyncio.Future[Any] | None = None
        self._timer = asyncio.get_running_loop().call_later(
            RUNNING_MARK_DELAY_S, self._fire, execution, key, record
        )

    def _fire(self, execution: Execution, key: str, record: str) -> None:
        self._write = asyncio.ensure_future(execution.save(key, record, "start"))

    async def settle(self) -> None:
        """Before the outcome is written: drop a pending mark, or let one in flight land."""
        self._timer.cancel()
        if self._write is not None:
            await self._write

    def cancel(self) -> None:
        self._timer.cancel()
        if self._write is not None:
            self._write.cancel()


def _received(result: JSONDict) -> ReceivedEvent:
    stamp = datetime.fromtimestamp(int(result["timestamp"]) / 1000, UTC)
    return ReceivedEvent(type=result["type"], payload=result.get("payload"), timestamp=stamp)


def owner_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"
