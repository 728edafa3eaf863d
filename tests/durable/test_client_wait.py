"""`Client.wait`: the final answer of an instance, against real Redis and in-process workers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from durable import DurableError, NonRetryableError, workflow
from durable.errors import (
    InstanceNotFoundError,
    InstanceWaitTimeoutError,
    InvalidDurationError,
    InvalidInstanceIdError,
    WorkflowNotFoundError,
)
from durable.models import ErrorInfo
from tests.conftest import ClientFactory, WorkerPool
from tests.helpers import as_json, assert_eventually

pytestmark = pytest.mark.timeout(60)


@workflow("wait-approval")
async def approval(event: Any, step: Any) -> Any:
    got = await step.wait_for_event("approval", type="approval", timeout="1 h")
    await step.sleep("cooldown", "10 ms")
    return {"approved": got.payload["approved"]}


@workflow("wait-failing")
async def failing(event: Any, step: Any) -> Any:
    def charge() -> None:
        raise NonRetryableError("card declined")

    return await step.do("charge", charge)


WORKFLOWS = [approval, failing]


async def _waiting(client: Any, instance_id: str) -> None:
    async def check() -> bool:
        got = await client.get("wait-approval", instance_id)
        return bool(got.details.status == "waiting")

    await assert_eventually(check)


async def test_wait_returns_the_final_answer_once_the_instance_completes(
    workers: WorkerPool, client_factory: ClientFactory
) -> None:
    client = client_factory(WORKFLOWS)
    await workers.start(WORKFLOWS)
    await client.create("wait-approval", instance_id="w1")
    waiting = asyncio.ensure_future(
        client.wait("wait-approval", "w1", timeout="30 s", poll_interval="5 ms")
    )
    await _waiting(client, "w1")  # the instance cannot end before the event below
    await client.send_event("wait-approval", "w1", type="approval", payload={"approved": True})

    answer = await waiting
    assert as_json(answer.details) == {
        "status": "complete",
        "runNumber": 0,
        "output": {"approved": True},
    }
    assert answer == await client.get("wait-approval", "w1")


async def test_wait_returns_an_errored_instance_without_raising(
    workers: WorkerPool, client_factory: ClientFactory
) -> None:
    client = client_factory(WORKFLOWS)
    await workers.start(WORKFLOWS)
    await client.create("wait-failing", instance_id="f1")

    answer = await client.wait("wait-failing", "f1", timeout="30 s", poll_interval="5 ms")
    assert answer.details.status == "errored"
    assert answer.details.error == ErrorInfo(name="NonRetryableError", message="card declined")


async def test_wait_returns_a_terminated_instance(client_factory: ClientFactory) -> None:
    client = client_factory(WORKFLOWS)
    await client.create("wait-approval", instance_id="t1")
    await client.terminate("wait-approval", "t1")

    answer = await client.wait("wait-approval", "t1", timeout=0)
    assert answer.details.status == "terminated"


async def test_wait_times_out_with_a_timeout_error_and_leaves_the_instance_alone(
    workers: WorkerPool, client_factory: ClientFactory
) -> None:
    client = client_factory(WORKFLOWS)
    await workers.start(WORKFLOWS)
    await client.create("wait-approval", instance_id="s1")
    await _waiting(client, "s1")

    with pytest.raises(InstanceWaitTimeoutError) as info:
        await client.wait("wait-approval", "s1", timeout="30 ms", poll_interval="5 ms")
    err = info.value
    assert isinstance(err, TimeoutError) and isinstance(err, DurableError)
    assert (err.workflow, err.instance_id, err.status, err.timeout_ms) == (
        "wait-approval",
        "s1",
        "waiting",
        30,
    )
    assert str(err).endswith("did not end within 30 ms (status: waiting)")

    await client.send_event("wait-approval", "s1", type="approval", payload={"approved": False})
    answer = await client.wait("wait-approval", "s1", timeout="30 s", poll_interval="5 ms")
    assert answer.details.output == {"approved": False}


async def test_wait_with_zero_timeout_checks_once(client_factory: ClientFactory) -> None:
    client = client_factory(WORKFLOWS)
    await client.create("wait-approval", instance_id="z1")  # no worker: it stays queued

    with pytest.raises(InstanceWaitTimeoutError) as info:
        await client.wait("wait-approval", "z1", timeout=0)
    assert info.value.status == "queued"


async def test_wait_raises_the_errors_of_get(client_factory: ClientFactory) -> None:
    client = client_factory(WORKFLOWS)
    with pytest.raises(WorkflowNotFoundError):
        await client.wait("no-such-workflow", "x1")
    with pytest.raises(InstanceNotFoundError):
        await client.wait("wait-approval", "missing")
    with pytest.raises(InvalidInstanceIdError):
        await client.wait("wait-approval", "bad id")


@pytest.mark.parametrize(
    ("timeout", "poll_interval"), [("soon", "5 ms"), ("1 s", "0 ms"), ("1 s", -5), ("1 s", "x")]
)
async def test_wait_rejects_bad_durations(
    client_factory: ClientFactory, timeout: Any, poll_interval: Any
) -> None:
    client = client_factory(WORKFLOWS)
    await client.create("wait-approval", instance_id="d1")
    with pytest.raises(InvalidDurationError):
        await client.wait("wait-approval", "d1", timeout=timeout, poll_interval=poll_interval)
