"""A worker's metrics, recorded by the observe hooks of in-process arq workers on real Redis."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from durable import observe
from durable.client import Client
from durable.metrics import WorkerMetrics
from durable.settings import Settings
from durable.store import Ref, Store
from durable.workflow import RegistryLike
from tests.conftest import WorkerPool
from tests.helpers import assert_eventually
from tests.observe.flows import workflows
from tests.observe.support import Samples, final, samples, status, value


@pytest.fixture
def metrics() -> Iterator[WorkerMetrics]:
    """Metrics in a registry of this test's own, installed for the test's duration."""
    found = WorkerMetrics(CollectorRegistry())
    observe.install(found)
    yield found
    observe.uninstall(found)


def read(metrics: WorkerMetrics) -> Samples:
    return samples(generate_latest(metrics.registry).decode())


async def test_a_retry_and_a_sleep_are_counted(
    metrics: WorkerMetrics,
    workers: WorkerPool,
    client_factory: Callable[[RegistryLike], Client],
) -> None:
    client = client_factory(workflows)
    await workers.start(workflows)
    await client.create("obs-retry", instance_id="r1")
    done = await final(client, "obs-retry", "r1")
    assert done["details"]["output"] == "attempt 2"

    found = read(metrics)
    wf = {"workflow": "obs-retry"}
    assert value(found, "durable_steps_started_total", **wf, type="do") == 1
    assert value(found, "durable_steps_retried_total", **wf, type="do") == 1
    assert value(found, "durable_steps_completed_total", **wf, type="do") == 1
    assert value(found, "durable_steps_failed_total", **wf, type="do") is None
    assert value(found, "durable_steps_started_total", **wf, type="sleep") == 1
    assert value(found, "durable_steps_completed_total", **wf, type="sleep") == 1
    # two attempts of the step, one failed
    assert value(found, "durable_step_duration_seconds_count", **wf, result="error") == 1
    assert value(found, "durable_step_duration_seconds_count", **wf, result="ok") == 1
    # three executions: the failed attempt, the retry up to the sleep, the end of the sleep
    assert value(found, "durable_executions_total", **wf, outcome="suspended") == 2
    assert value(found, "durable_executions_total", **wf, outcome="complete") == 1
    assert value(found, "durable_execution_duration_seconds_count", **wf) == 3
    # the retry backoff and the sleep were timers: each woke an execution
    assert value(found, "durable_timer_lateness_seconds_count", **wf) == 2
    assert value(found, "durable_timer_lateness_seconds_bucket", **wf, le="+Inf") == 2


async def test_a_step_that_fails_for_good_and_an_errored_run(
    metrics: WorkerMetrics,
    workers: WorkerPool,
    client_factory: Callable[[RegistryLike], Client],
) -> None:
    client = client_factory(workflows)
    await workers.start(workflows)
    await client.create("obs-plain", instance_id="p1", params={"fail": True})
    await client.create("obs-plain", instance_id="p2", params={"fail": False})
    assert (await final(client, "obs-plain", "p1"))["details"]["status"] == "errored"
    assert (await final(client, "obs-plain", "p2"))["details"]["status"] == "complete"
    found = read(metrics)
    wf = {"workflow": "obs-plain"}
    assert value(found, "durable_steps_started_total", **wf, type="do") == 2
    assert value(found, "durable_steps_failed_total", **wf, type="do") == 1
    assert value(found, "durable_steps_completed_total", **wf, type="do") == 1
    assert value(found, "durable_executions_total", **wf, outcome="errored") == 1
    assert value(found, "durable_executions_total", **wf, outcome="complete") == 1
    assert value(found, "durable_timer_lateness_seconds_count", **wf) is None  # no timers


async def test_an_event_to_a_waiting_instance_measures_its_resume_latency(
    metrics: WorkerMetrics,
    workers: WorkerPool,
    client_factory: Callable[[RegistryLike], Client],
) -> None:
    client = client_factory(workflows)
    await workers.start(workflows)
    await client.create("obs-wait", instance_id="w1")

    async def waiting() -> bool:
        return await status(client, "obs-wait", "w1") == "waiting"

    await assert_eventually(waiting)
    await client.send_event("obs-wait", "w1", type="go", payload={"n": 1})
    done = await final(client, "obs-wait", "w1")
    assert done["details"]["output"] == {"payload": {"n": 1}, "after": "done"}
    found = read(metrics)
    wf = {"workflow": "obs-wait"}
    assert value(found, "durable_event_resume_latency_seconds_count", **wf) == 1
    assert value(found, "durable_steps_started_total", **wf, type="waitForEvent") == 1
    assert value(found, "durable_steps_completed_total", **wf, type="waitForEvent") == 1
    assert value(found, "durable_timer_lateness_seconds_count", **wf) is None  # an event woke it


async def test_an_event_sent_before_the_wait_is_no_resume_latency(
    metrics: WorkerMetrics,
    workers: WorkerPool,
    client_factory: Callable[[RegistryLike], Client],
) -> None:
    client = client_factory(workflows)
    await client.create("obs-wait", instance_id="w2")
    await client.send_event("obs-wait", "w2", type="go")  # before any worker ran it
    await workers.start(workflows)
    await final(client, "obs-wait", "w2")
    found = read(metrics)
    assert value(found, "durable_steps_completed_total", workflow="obs-wait", type="waitForEvent")
    assert value(found, "durable_event_resume_latency_seconds_count", workflow="obs-wait") is None


async def test_housekeeping_counts_recovered_leases(
    metrics: WorkerMetrics,
    workers: WorkerPool,
    settings: Settings,
    client_factory: Callable[[RegistryLike], Client],
) -> None:
    client = client_factory(workflows)
    await client.create("obs-plain", instance_id="dead", params={})
    # A worker that took the lease and died: nobody renews it.
    store = Store(client.redis, settings)
    got = await store.acquire(Ref("obs-plain", "dead"), job_id="", owner="gone:1", ttl_ms=200)
    assert got.__class__.__name__ == "Acquired"
    await workers.start(workflows)

    async def recovered() -> float | None:
        return value(read(metrics), "durable_leases_recovered_total")

    assert await assert_eventually(recovered) == 1
    assert (await final(client, "obs-plain", "dead"))["details"]["status"] == "complete"
