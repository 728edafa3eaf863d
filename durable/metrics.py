"""A worker's Prometheus metrics (`durable worker --metrics-port`), recorded by observe hooks.

Counters and histograms only, updated in memory: nothing here talks to Redis. Several workers
on one host either serve one port each, or share PROMETHEUS_MULTIPROC_DIR (prometheus-client's
multiprocess mode: every worker writes its values there, and the one with a port serves the
sum). docs/observability.md lists every metric.
"""

from __future__ import annotations

import contextvars
import functools
import os
import time
from collections.abc import Awaitable
from typing import TYPE_CHECKING, TypeVar

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, start_http_server

from durable.errors import MetricsServerError
from durable.observe import Observer
from durable.types import StepType

if TYPE_CHECKING:
    from durable.replies import Acquired
    from durable.store import Ref

T = TypeVar("T")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
DEFAULT_HOST = "127.0.0.1"
# From a millisecond (an event resuming a waiting instance) to a minute (a backlog).
LATENCY_BUCKETS_S = (
    *(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5),
    *(1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)
# Steps and executions run user code: up to minutes.
DURATION_BUCKETS_S = (
    *(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5),
    *(1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0),
)
STEP_CHANGES = ("started", "completed", "retried", "failed")
OUTCOMES = {"complete": "complete", "error": "errored", "suspend": "suspended", "lost": "lost"}

# When the execution in this context took its lease (Redis time, ms): event latency ends there.
_execution_started_ms: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "durable_execution_started_ms", default=None
)


class WorkerMetrics(Observer):
    """The worker's metrics, registered in `registry` (the process-wide one by default)."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.registry = registry
        self.steps = {
            change: Counter(
                f"durable_steps_{change}",
                f"Steps {change}, by workflow and step type (do, sleep, waitForEvent).",
                ["workflow", "type"],
                registry=registry,
            )
            for change in STEP_CHANGES
        }
        self.step_seconds = Histogram(
            "durable_step_duration_seconds",
            "How long an attempt of a do step ran, by workflow and result (ok, error).",
            ["workflow", "result"],
            buckets=DURATION_BUCKETS_S,
            registry=registry,
        )
        self.executions = Counter(
            "durable_executions",
            "Executions (passes of a workflow function under a lease) by workflow and outcome.",
            ["workflow", "outcome"],
            registry=registry,
        )
        self.execution_seconds = Histogram(
            "durable_execution_duration_seconds",
            "How long an execution held its lease, by workflow.",
            ["workflow"],
            buckets=DURATION_BUCKETS_S,
            registry=registry,
        )
        self.event_latency = Histogram(
            "durable_event_resume_latency_seconds",
            "From an event's arrival to the start of the execution that consumed it, for waits "
            "that were waiting when it came.",
            ["workflow"],
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )
        self.timer_lateness = Histogram(
            "durable_timer_lateness_seconds",
            "From a timer's due time (a sleep, a retry backoff, an event wait's deadline) to the "
            "start of the execution it woke.",
            ["workflow"],
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )
        self.recovered = Counter(
            "durable_leases_recovered",
            "Instances taken back by housekeeping after their worker stopped renewing its lease.",
            registry=registry,
        )

    # -- executions ----------------------------------------------------------------------------

    def execution(self, call: Awaitable[T], ref: Ref, acquired: Acquired) -> Awaitable[T]:
        return self._execution(call, ref.workflow, acquired)

    async def _execution(self, call: Awaitable[T], workflow: str, acquired: Acquired) -> T:
        if acquired.status_before == "waiting" and acquired.due_ms:
            late_ms = max(0, acquired.now_ms - acquired.due_ms)
            self.timer_lateness.labels(workflow).observe(late_ms / 1000)
        token = _execution_started_ms.set(acquired.now_ms)
        started = time.perf_counter()
        try:
            return await call
        finally:
            _execution_started_ms.reset(token)
            self.execution_seconds.labels(workflow).observe(time.perf_counter() - started)

    def execution_ended(self, workflow: str, outcome: str) -> None:
        self.executions.labels(workflow, OUTCOMES.get(outcome, outcome)).inc()

    # -- steps ---------------------------------------------------------------------------------

    def attempt(
        self, call: Awaitable[T], ref: Ref, run: int, key: str, attempt: int
    ) -> Awaitable[T]:
        return self._attempt(call, ref.workflow)

    async def _attempt(self, call: Awaitable[T], workflow: str) -> T:
        started = time.perf_counter()
        try:
            result = await call
        except Exception:
            self.step_seconds.labels(workflow, "error").observe(time.perf_counter() - started)
            raise
        self.step_seconds.labels(workflow, "ok").observe(time.perf_counter() - started)
        return result

    def step(self, workflow: str, step_type: str, change: str) -> None:
        if step_type != StepType.PATCH:  # a patch marker runs nothing: not a step to count
            self.steps[change].labels(workflow, step_type).inc()

    def event_consumed(self, workflow: str, event_ms: int, waiting_since_ms: int) -> None:
        started_ms, event_ms = _execution_started_ms.get(), int(event_ms)
        # An event that came before the wait was reached, or while this execution ran, did
        # not wake anything: it says nothing about resume latency.
        if started_ms is not None and waiting_since_ms <= event_ms <= started_ms:
            self.event_latency.labels(workflow).observe((started_ms - event_ms) / 1000)

    def leases_recovered(self, count: int) -> None:
        self.recovered.inc(count)


@functools.cache
def worker_metrics() -> WorkerMetrics:
    """This process's worker metrics, in the process-wide registry (made once)."""
    return WorkerMetrics()


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


def serve(port: int, host: str = DEFAULT_HOST) -> None:
    """Serve this process's metrics (or, in multiprocess mode, the sum over every process
    writing to PROMETHEUS_MULTIPROC_DIR) over HTTP on host:port, from a background thread."""
    registry = REGISTRY
    if multiprocess_dir():
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    try:
        start_http_server(port, host, registry)
    except OSError as exc:
        raise MetricsServerError(host, port, exc.strerror or str(exc)) from exc
