"""Bulk control on a real Redis (durable/bulk.py): selection, counts, idempotency."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from durable import StepContext, workflow
from durable.client import Client
from durable.errors import InvalidInstanceIdError, ValidationError
from durable.workflow import RegistryLike
from tests.conftest import WorkerPool
from tests.helpers import assert_eventually

pytestmark = pytest.mark.timeout(90)
Factory = Callable[[RegistryLike], Client]


@workflow("parked")
async def parked(event: Any, step: Any) -> None:
    await step.wait_for_event("go", type="go", timeout="1 h")


def _fail_first(ctx: StepContext) -> int:
    if ctx.attempt < 2:
        raise RuntimeError("the first attempt fails")
    return ctx.attempt


@workflow("fail-once")
async def fail_once(event: Any, step: Any) -> Any:
    return await step.do("flaky", _fail_first)


FLOWS = [parked, fail_once]


async def test_bulk_terminate_of_a_thousand_instances(client_factory: Factory) -> None:
    client = client_factory(FLOWS)
    ids = [f"p{n:04d}" for n in range(1000)]
    for start in range(0, 1000, 500):
        batch = [{"id": i} for i in ids[start : start + 500]]
        await client.create_batch("parked", batch)
    result = await client.bulk("parked", "terminate", status="queued")
    assert (result.matched, result.changed, result.skipped) == (1000, 1000, 0)
    counts = await client.counts("parked")
    assert counts["terminated"] == 1000 and counts["queued"] == 0
    again = await client.bulk("parked", "terminate", status="queued")
    assert (again.matched, again.changed, again.skipped) == (0, 0, 0)
    by_ids = await client.bulk("parked", "terminate", ids=[*ids[:10], "nope"])
    assert (by_ids.matched, by_ids.changed, by_ids.skipped) == (10, 0, 10)


async def test_bulk_restart_with_an_idempotency_key_acts_once(client_factory: Factory) -> None:
    client = client_factory(FLOWS)
    await client.create_batch("parked", [{"id": f"r{n}"} for n in range(150)])
    await client.bulk("parked", "terminate", status="queued")
    first = await client.bulk("parked", "restart", status="terminated", idempotency_key="k1")
    again = await client.bulk("parked", "restart", status="terminated", idempotency_key="k1")
    assert first == again and (first.matched, first.changed) == (150, 150)
    assert (await client.get("parked", "r7")).details.run_number == 1
    by_status = await client.bulk("parked", "restart", status="terminated")
    assert by_status.matched == 0  # restarted ones left the status they were picked by
    selected = await client.bulk("parked", "restart", ids=["r1", "r2"], status="paused")
    assert selected.matched == 0


async def test_bulk_retry_step_reopens_the_failed_steps(
    workers: WorkerPool, client_factory: Factory
) -> None:
    client = client_factory(FLOWS)
    await client.create_batch("fail-once", [{"id": f"f{n}"} for n in range(5)])
    await client.create("parked", instance_id="other")
    await workers.start(FLOWS)

    async def all_errored() -> bool:
        return (await client.counts("fail-once"))["errored"] == 5

    await assert_eventually(all_errored, 20)
    result = await client.bulk("fail-once", "retry-step", status="errored")
    assert (result.matched, result.changed, result.skipped) == (5, 5, 0)
    done = await client.wait("fail-once", "f3")
    assert done.details.output == 2
    again = await client.bulk("fail-once", "retry-step", ids=["f3"])
    assert (again.matched, again.changed, again.skipped) == (1, 0, 1)  # complete: not errored
    other = await client.bulk("parked", "retry-step", ids=["other"])
    assert (other.matched, other.changed) == (1, 0)


async def test_bulk_refuses_a_selection_it_cannot_make(client_factory: Factory) -> None:
    client = client_factory(FLOWS)
    with pytest.raises(ValidationError, match="status, by ids"):
        await client.bulk("parked", "terminate")
    with pytest.raises(ValidationError):
        await client.bulk("parked", "terminate", status="sleeping")
    with pytest.raises(InvalidInstanceIdError):
        await client.bulk("parked", "terminate", ids=["-bad"])
    with pytest.raises(ValidationError):
        await client.bulk("parked", "explode", status="queued")
    with pytest.raises(ValidationError, match="delayMs"):
        await client.bulk("parked", "retry-step", status="errored", delay_ms=-1)
