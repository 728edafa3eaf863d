"""`step.sleep`, `step.sleep_until` and `step.wait_for_event`: steps that suspend the run until a
time or an event. The wake time is fixed when the step is first recorded."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from durable import observe
from durable.durations import Duration, datetime_to_ms, to_ms
from durable.errors import InvalidStepError, WaitForEventTimeoutError
from durable.names import ID_MAX, valid_name
from durable.recorder import Recorder
from durable.records import StepRecord
from durable.replies import Fenced, LimitReached, Tag, WaitResolved
from durable.step import ReceivedEvent
from durable.types import JSONDict, StepStatus, StepType

MAX_WAIT_MS = 365 * 86_400_000


class Waits(Recorder):
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
        key = await self.claim(name, StepType.SLEEP)
        rec = self.new_record(key, name, StepType.SLEEP)
        if rec.status == StepStatus.COMPLETED:
            return
        now = self.now()
        if key not in self.recorded:
            wake = amount + now if relative else amount
            rec = replace(rec, status=StepStatus.WAITING, wake_at_ms=wake, attempt=0)
            await self.save(key, rec)
            self.suspend(wake)
        wake = rec.wake_at_ms or 0
        if now < wake:
            self.suspend(wake)
        await self.save(key, replace(rec, status=StepStatus.COMPLETED, updated_at_ms=now))
        observe.get().step(self.ref.workflow, StepType.SLEEP, "completed")
        self.boundary()

    async def wait_for_event(self, name: str, *, type: str, timeout: Duration) -> ReceivedEvent:
        if not valid_name(type, ID_MAX):
            raise InvalidStepError(f"invalid event type {type!r}")
        timeout_ms = to_ms(timeout)
        if not 0 < timeout_ms <= MAX_WAIT_MS:
            raise InvalidStepError("wait_for_event timeout must be > 0 and at most 365 days")
        key = await self.claim(name, StepType.WAIT_FOR_EVENT)
        rec = self.new_record(key, name, StepType.WAIT_FOR_EVENT)
        if rec.status == StepStatus.COMPLETED:
            if self._completed_by_send(rec):
                self._consumed(rec)
            return _received(rec.result)
        if rec.status == StepStatus.ERRORED:
            raise WaitForEventTimeoutError(key, type)
        deadline = rec.wake_at_ms if rec.wake_at_ms is not None else self.now() + timeout_ms
        rec = replace(rec, wake_at_ms=deadline, event_type=type, attempt=0, max_attempts=1)
        resolved = await self._resolve(key, rec, type)
        if resolved.outcome == Tag.EVENT:
            self._consumed(self.recorded[key])
            self.boundary()
            return _received(self.recorded[key].result)
        if resolved.outcome == Tag.TIMEOUT:
            observe.get().step(self.ref.workflow, StepType.WAIT_FOR_EVENT, "failed")
            raise WaitForEventTimeoutError(key, type)
        self.suspend(deadline)

    def _completed_by_send(self, rec: StepRecord) -> bool:
        """Whether the event that woke this pass completed the wait as it was stored (the
        send_event script does when the instance waits on this step alone): then its metrics
        are this pass's to count, as if its own wait_event call had taken the event."""
        at = rec.updated_at_ms
        return at is not None and at == self.woken_at_ms and rec.result["timestamp"] == at

    def _consumed(self, rec: StepRecord) -> None:
        observe.get().step(self.ref.workflow, StepType.WAIT_FOR_EVENT, "completed")
        observe.get().event_consumed(
            self.ref.workflow, rec.result["timestamp"], rec.created_at_ms or 0
        )

    async def _resolve(self, key: str, rec: StepRecord, event_type: str) -> WaitResolved:
        """One script takes the oldest matching event, times the wait out, or records it."""
        lines, count = self.logs.take()
        message = WaitForEventTimeoutError(key, event_type).message
        resolved = await self.store.wait_event(
            self.ref, fence=self.fence, run=self.run, key=key, event_type=event_type,
            deadline_ms=rec.wake_at_ms or 0, head=rec.wait_head(), log_lines=lines,
            log_count=count, max_steps=self.settings.max_steps_per_run, timeout_message=message,
        )  # fmt: skip
        if isinstance(resolved, Fenced | LimitReached):
            self.refused(resolved)
        self.recorded[key] = StepRecord.decode(resolved.record)
        return resolved


def _received(result: JSONDict) -> ReceivedEvent:
    stamp = datetime.fromtimestamp(int(result["timestamp"]) / 1000, UTC)
    return ReceivedEvent(type=result["type"], payload=result.get("payload"), timestamp=stamp)
