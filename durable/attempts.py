"""`step.do`: replay a recorded outcome, or run attempts of the step's function and record how
each ended (a result, a retry scheduled, or the step failed). A cancelled attempt is never
recorded as a result."""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from durable import observe
from durable.calling import is_async, takes_context
from durable.durations import Duration, to_ms
from durable.errors import NonRetryableError, StepResultError, StepTimeoutError, WorkerLostError
from durable.logbuffer import in_step
from durable.recorder import Recorder
from durable.records import StepError, StepRecord, dumps, iso
from durable.replayed import step_error
from durable.retries import Retries, as_retries
from durable.step import StepContext
from durable.types import LogLevel, StepStatus, StepType

log = logging.getLogger("durable.engine")

RUNNING_MARK_DELAY_S = 0.02
RETRY_LOG_CATEGORY = "retry"


class Attempts(Recorder):
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
        key = await self.claim(name, StepType.DO)
        rec = self.recorded.get(key)
        if rec is not None and rec.status in (StepStatus.COMPLETED, StepStatus.ERRORED):
            return self.replay(rec)
        if rec is not None and rec.status == StepStatus.WAITING:
            retry_at = rec.next_retry_at_ms or 0
            if retry_at > self.now():
                self.suspend(retry_at)
        task = asyncio.current_task()
        if task is not None:
            self.active.add(task)
        try:
            return await self._attempt(key, name, fn, policy, timeout_ms)
        finally:
            if task is not None:
                self.active.discard(task)

    def _started(self, key: str, name: str, policy: Retries, timeout_ms: int | None) -> StepRecord:
        """The record of the attempt about to run. A "running" record left behind, or a lease
        lost without progress, means the last attempt was interrupted: it runs again without
        using the retry budget."""
        rec = self.new_record(key, name, StepType.DO)
        interrupted = key in self.recorded and rec.status == StepStatus.RUNNING
        attempt = max(rec.attempt if interrupted or self.interruptions else rec.attempt + 1, 1)
        return replace(
            rec,
            status=StepStatus.RUNNING,
            attempt=attempt,
            max_attempts=max(policy.max_attempts, rec.max_attempts, attempt),
            timeout_ms=timeout_ms,
            interruptions=max(rec.interruptions, self.interruptions),
            updated_at_ms=self.now(),
            next_retry_at_ms=None,
        )

    async def _attempt(
        self,
        key: str,
        name: str,
        fn: Callable[..., Any],
        policy: Retries,
        timeout_ms: int | None,
    ) -> Any:
        rec = self._started(key, name, policy, timeout_ms)
        if self.interruptions >= self.settings.max_interruptions:
            return await self._fail(key, rec, WorkerLostError(key, self.interruptions))
        if self.budget is not None:
            self.budget -= 1
        mark = RunningMark(self, key, rec)
        try:
            invoked = self._invoke(key, fn, rec.attempt, timeout_ms)
            value = await observe.get().attempt(invoked, self.ref, self.run, key, rec.attempt)
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
        """Run the step's function once. Only an attempt that outlives the step's own timeout
        is a StepTimeoutError; a TimeoutError raised by the function is its own error."""
        iid = self.ref.instance_id
        ctx = StepContext(attempt, key, iid, f"{self.ref.workflow}/{iid}/{self.run}/{key}")
        args = (ctx,) if takes_context(fn) else ()
        deadline = asyncio.timeout(timeout_ms / 1000 if timeout_ms else None)
        with in_step(key, attempt):
            try:
                async with deadline:
                    result = await (fn(*args) if is_async(fn) else asyncio.to_thread(fn, *args))
                    if inspect.isawaitable(result):
                        result = await result
            except TimeoutError as exc:
                if deadline.expired():
                    raise StepTimeoutError(key, timeout_ms or 0) from exc
                raise
        return result

    async def _succeed(self, key: str, rec: StepRecord, value: Any) -> Any:
        try:
            encoded = dumps(value)
        except (TypeError, ValueError) as exc:
            error = StepResultError(f"step {key!r} returned a value that is not JSON: {exc}")
            return await self._fail(key, rec, error)
        limit = self.settings.max_payload_bytes
        if len(encoded.encode()) > limit:
            error = StepResultError(f"step {key!r} returned {len(encoded)} bytes; limit {limit}")
            return await self._fail(key, rec, error)
        done = replace(
            rec, status=StepStatus.COMPLETED, updated_at_ms=self.now(), error=None, result=None
        )
        winner = await self.save(key, done, result_json=encoded)
        if winner is not None:
            return self.replay(winner)
        observe.get().step(self.ref.workflow, StepType.DO, "completed")
        self.boundary()
        return json.loads(encoded)

    async def _failed_attempt(
        self, key: str, rec: StepRecord, policy: Retries, exc: Exception
    ) -> Any:
        final = isinstance(exc, NonRetryableError | StepResultError)
        if final or rec.attempt >= rec.max_attempts:
            return await self._fail(key, rec, exc)
        now = self.now()
        due = now + policy.delay_ms(rec.attempt)
        error = step_error(exc)
        rec = replace(
            rec, status=StepStatus.WAITING, updated_at_ms=now, error=error, next_retry_at_ms=due,
            result=None,
        ).with_failure(error, now)  # fmt: skip
        failure = rec.failed_attempts[-1].error
        self._retry_log(key, rec, failure, due)
        winner = await self.save(key, rec)
        if winner is not None:
            return self.replay(winner)
        observe.get().step(self.ref.workflow, StepType.DO, "retried")
        log.info(
            "step %s of %s/%s failed on attempt %d/%d (%s: %s); next attempt at %s",
            key, self.ref.workflow, self.ref.instance_id, rec.attempt, rec.max_attempts,
            failure.name, failure.message, iso(due),
        )  # fmt: skip
        self.suspend(due)

    def _retry_log(self, key: str, rec: StepRecord, error: StepError, due: int) -> None:
        """The history line of a scheduled retry, tagged with the attempt that failed."""
        at, attempt = iso(due), rec.attempt
        message = (
            f"{error.name}: {error.message}; retrying (attempt {attempt + 1}/{rec.max_attempts})"
            f" at {at}"
        )
        data = {"error": error.to_json(), "nextAttempt": attempt + 1, "nextAttemptAt": at}
        self.logs.append(key, attempt, LogLevel.WARN, RETRY_LOG_CATEGORY, message, data)

    async def _fail(self, key: str, rec: StepRecord, exc: BaseException) -> Any:
        now = self.now()
        error = step_error(exc)
        rec = replace(
            rec, status=StepStatus.ERRORED, updated_at_ms=now, error=error, next_retry_at_ms=None,
            result=None,
        ).with_failure(error, now)  # fmt: skip
        winner = await self.save(key, rec)
        observe.get().step(self.ref.workflow, StepType.DO, "failed")
        return self.replay(winner or rec)


class RunningMark:
    """Records a step attempt as `running` only once it has run for a moment: fast steps cost
    one write (their outcome), slow ones show up as running while they work."""

    def __init__(self, recorder: Recorder, key: str, record: StepRecord) -> None:
        self._write: asyncio.Future[Any] | None = None
        self._timer = asyncio.get_running_loop().call_later(
            RUNNING_MARK_DELAY_S, self._fire, recorder, key, record
        )

    def _fire(self, recorder: Recorder, key: str, record: StepRecord) -> None:
        self._write = asyncio.ensure_future(recorder.save(key, record, "start"))

    async def settle(self) -> None:
        """Before the outcome is written: drop a pending mark, or let one in flight land."""
        self._timer.cancel()
        if self._write is not None:
            await self._write

    def cancel(self) -> None:
        self._timer.cancel()
        if self._write is not None:
            self._write.cancel()
