"""Hooks the engine, the runner and housekeeping call as they work, for metrics and tracing.

The default observer does nothing, so a worker without `--metrics-port` and without
OpenTelemetry pays one attribute lookup and one empty call per hook. `install` adds observers
(Prometheus metrics: durable.metrics; spans: durable.otel); `get()` is what the hooks call.

Hooks never touch Redis and never raise into the engine: an observer that fails is a bug in
the observer, not in the workflow, so the fan-out logs it and carries on.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from durable.replies import Acquired
    from durable.store import Ref

T = TypeVar("T")
log = logging.getLogger("durable.observe")


class Observer:
    """Every hook, doing nothing. Subclasses override the ones they need.

    Step changes (`step`): `started` (the run first reached the step: once per step, whatever
    its type, patch markers included), `completed`, `retried` (an attempt of a `do` step failed
    and another is scheduled) and `failed` (the step errored for good; for a wait, its deadline
    passed). Execution outcomes (`execution_ended`): `complete`,
    `error`, `suspend` (the run waits for a timer, an event or a retry) and `lost` (the lease
    went to someone else first).
    """

    def execution(self, call: Awaitable[T], ref: Ref, acquired: Acquired) -> Awaitable[T]:
        """Wrap one execution (from lease to release): `call` runs the workflow function."""
        return call

    def execution_ended(self, workflow: str, outcome: str) -> None:
        """How the workflow function's pass ended; called inside `execution`'s call."""

    def attempt(
        self, call: Awaitable[T], ref: Ref, run: int, key: str, attempt: int
    ) -> Awaitable[T]:
        """Wrap one attempt of a `do` step: `call` runs the step's function."""
        return call

    def step(self, workflow: str, step_type: str, change: str) -> None:
        """A step changed: started, completed, retried or failed."""

    def event_consumed(self, workflow: str, event_ms: int, waiting_since_ms: int) -> None:
        """A wait consumed an event created at `event_ms`; the wait was first reached at
        `waiting_since_ms`. Called inside the execution that consumed it."""

    def leases_recovered(self, count: int) -> None:
        """Housekeeping took back `count` instances whose worker stopped renewing its lease."""


class Observers(Observer):
    """Several observers as one: wrappers nest in installation order, hooks fan out."""

    def __init__(self, observers: tuple[Observer, ...]) -> None:
        self.observers = observers

    def execution(self, call: Awaitable[T], ref: Ref, acquired: Acquired) -> Awaitable[T]:
        for observer in self.observers:
            call = observer.execution(call, ref, acquired)
        return call

    def attempt(
        self, call: Awaitable[T], ref: Ref, run: int, key: str, attempt: int
    ) -> Awaitable[T]:
        for observer in self.observers:
            call = observer.attempt(call, ref, run, key, attempt)
        return call

    def execution_ended(self, workflow: str, outcome: str) -> None:
        for observer in self.observers:
            _safely(observer.execution_ended, workflow, outcome)

    def step(self, workflow: str, step_type: str, change: str) -> None:
        for observer in self.observers:
            _safely(observer.step, workflow, step_type, change)

    def event_consumed(self, workflow: str, event_ms: int, waiting_since_ms: int) -> None:
        for observer in self.observers:
            _safely(observer.event_consumed, workflow, event_ms, waiting_since_ms)

    def leases_recovered(self, count: int) -> None:
        for observer in self.observers:
            _safely(observer.leases_recovered, count)


def _safely(hook: Callable[..., object], *args: object) -> None:
    try:
        hook(*args)
    except Exception:  # an observer's bug must never fail a workflow
        log.exception("an observer failed in %s", getattr(hook, "__qualname__", hook))


NOTHING = Observer()
_installed: tuple[Observer, ...] = ()
_current: Observer = NOTHING


def get() -> Observer:
    """The observer the hooks call: nothing, one observer, or several as one."""
    return _current


def install(*observers: Observer) -> None:
    """Add observers (one already installed is not added twice)."""
    _set(_installed + tuple(o for o in observers if o not in _installed))


def uninstall(*observers: Observer) -> None:
    _set(tuple(o for o in _installed if o not in observers))


def installed() -> tuple[Observer, ...]:
    return _installed


def _set(observers: tuple[Observer, ...]) -> None:
    global _installed, _current
    _installed = observers
    _current = Observers(observers) if observers else NOTHING
