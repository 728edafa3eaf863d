"""The `step` object workflow functions receive, and the values it hands out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from durable.durations import Duration
from durable.retries import Retries
from durable.types import LogLevel

if TYPE_CHECKING:
    from durable.workflow import Workflow


@dataclass(frozen=True)
class StepContext:
    """Passed to a step function that takes one argument."""

    attempt: int
    step_key: str
    instance_id: str
    idempotency_key: str


@dataclass(frozen=True)
class ReceivedEvent:
    type: str
    payload: Any
    timestamp: datetime


class StepHost(Protocol):
    """What `Step` needs from the execution it belongs to (durable.engine.Execution)."""

    async def do(
        self,
        name: str,
        fn: Callable[..., Any],
        *,
        retries: Retries | dict[str, Any] | None,
        timeout: Duration | None,
    ) -> Any: ...

    async def sleep(self, name: str, duration: Duration) -> None: ...

    async def sleep_until(self, name: str, when: datetime | int | float) -> None: ...

    async def wait_for_event(self, name: str, *, type: str, timeout: Duration) -> ReceivedEvent: ...

    async def patched(self, change_id: str) -> bool: ...

    async def invoke(
        self,
        name: str,
        *,
        workflow: str | Workflow,
        params: Any,
        instance_id: str | None,
        timeout: Duration | None,
        detached: bool,
    ) -> Any: ...

    async def start(
        self,
        name: str,
        *,
        workflow: str | Workflow,
        params: Any,
        instance_id: str | None,
        detached: bool,
    ) -> str: ...

    def deprecate_patch(self, change_id: str) -> None: ...

    def log(self, level: LogLevel, message: str, data: Any, category: str) -> None: ...


class StepLogger:
    """`step.log.info("message", {"data": 1})`: lines land in the instance history once."""

    def __init__(self, execution: StepHost) -> None:
        self._execution = execution

    def debug(self, message: str, data: Any = None, *, category: str = "workflow") -> None:
        self._execution.log(LogLevel.DEBUG, message, data, category)

    def info(self, message: str, data: Any = None, *, category: str = "workflow") -> None:
        self._execution.log(LogLevel.INFO, message, data, category)

    def warn(self, message: str, data: Any = None, *, category: str = "workflow") -> None:
        self._execution.log(LogLevel.WARN, message, data, category)

    def error(self, message: str, data: Any = None, *, category: str = "workflow") -> None:
        self._execution.log(LogLevel.ERROR, message, data, category)


class Step:
    """Durable steps. Every method takes a name that identifies the step across replays."""

    def __init__(self, execution: StepHost) -> None:
        self._execution = execution
        self.log = StepLogger(execution)

    async def do(
        self,
        name: str,
        fn: Callable[..., Any],
        *,
        retries: Retries | dict[str, Any] | None = None,
        timeout: Duration | None = None,
    ) -> Any:
        """Run `fn` once (plus retries) and return its recorded JSON result."""
        return await self._execution.do(name, fn, retries=retries, timeout=timeout)

    async def sleep(self, name: str, duration: Duration) -> None:
        """Suspend the instance for `duration`; no worker is held while it sleeps.

        `duration` is a `timedelta`, a number of milliseconds, or a string "<number> <unit>"
        with a unit from ms to years ("250 ms", "2 s", "15 min", "1.5h", "2 weeks"; a month is
        30 days); a bad or negative value raises `InvalidDurationError`. The wake time is fixed
        (by Redis's clock) the first time the sleep is reached and stored, so replays, worker
        restarts and pauses never move it. Recorded as a step of type `sleep`.
        """
        await self._execution.sleep(name, duration)

    async def sleep_until(self, name: str, when: datetime | int | float) -> None:
        """Suspend the instance until `when`: an aware `datetime` or epoch milliseconds.

        A naive `datetime` raises `InvalidDurationError`; a time already past still costs one
        suspension. Otherwise it behaves like `sleep` (recorded as a step of type `sleep`).
        """
        await self._execution.sleep_until(name, when)

    async def wait_for_event(
        self, name: str, *, type: str, timeout: Duration = timedelta(hours=24)
    ) -> ReceivedEvent:
        """Suspend until an event of `type` is sent to this instance, and return it.

        Takes the oldest unconsumed event of that type in the current run, including one that
        arrived before the wait began; one event per wait. `timeout` (default 24 hours) is a
        duration as for `sleep`, more than 0 and at most 365 days (else `InvalidStepError`);
        an event created after the deadline never satisfies the wait. When the deadline passes
        it raises `WaitForEventTimeoutError`: catch it to carry on (say, escalate); left
        uncaught, it errors the instance.
        """
        return await self._execution.wait_for_event(name, type=type, timeout=timeout)

    async def invoke(
        self,
        name: str,
        *,
        workflow: str | Workflow,
        params: Any = None,
        id: str | None = None,
        timeout: Duration | None = None,
        detached: bool = False,
    ) -> Any:
        """Start a child instance of `workflow` (its name, or the `Workflow`, whose params
        model then checks `params`) and wait for it; returns the child's output.

        The child is started exactly once, however often this instance replays or its worker
        dies. Its id is `id`, or one derived from this instance's id, its run number and the
        step's key (docs/semantics.md, "Child workflows"); an `id` taken by an instance that is
        not this step's child raises `InvalidStepError`. A child that errors or is terminated
        raises `ChildWorkflowError` here (its `error_name` and `error_message` are the
        child's). `timeout` (none by default; at most 365 days) stops the wait: it raises
        `ChildWorkflowError` named "ChildWorkflowTimeoutError" and terminates the child.
        Terminating or restarting this instance terminates the child while it runs, unless
        `detached`. Recorded as a step of type `invoke`.
        """
        return await self._execution.invoke(
            name, workflow=workflow, params=params, instance_id=id, timeout=timeout,
            detached=detached,
        )  # fmt: skip

    async def start(
        self,
        name: str,
        *,
        workflow: str | Workflow,
        params: Any = None,
        id: str | None = None,
        detached: bool = False,
    ) -> str:
        """Start a child instance as `invoke` does, without waiting for it; returns its id.
        Recorded as a completed step of type `invoke` whose result is the child's id."""
        return await self._execution.start(
            name, workflow=workflow, params=params, instance_id=id, detached=detached
        )

    async def patched(self, change_id: str) -> bool:
        """Whether this run takes the new path of an intended code change named `change_id`.

        True when the run reaches the call with no recorded steps ahead of it (it records a
        marker, a step of type `patch` named `change_id`) or recorded the marker before; False
        when the run already recorded later steps without it, so an instance started on older
        code keeps the old path. The answer is the same for every call with that id in a run.
        `change_id` follows the rules of step names. See docs/semantics.md, "Changing workflow
        code".
        """
        return await self._execution.patched(change_id)

    def deprecate_patch(self, change_id: str) -> None:
        """Retire a patch: put this (not awaited) where `patched(change_id)` was, once no
        instance is left on the old path. Runs that recorded the marker replay without a
        sequence error; new runs record nothing."""
        self._execution.deprecate_patch(change_id)
