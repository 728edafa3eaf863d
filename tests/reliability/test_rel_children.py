"""Child workflows on real worker processes: outcomes and terminations cross partitions, and a
child is started once even when the worker running its parent is SIGKILLed mid-way."""

from __future__ import annotations

from typing import Any

import pytest
from redis.asyncio import Redis

from durable.client import Client
from durable.settings import Settings
from tests.helpers import assert_eventually
from tests.reliability import child_flows
from tests.reliability.flows import counter_key
from tests.reliability.support import Workers

pytestmark = pytest.mark.timeout(120)

FLOWS = "tests.reliability.child_flows:workflows"
FAN = 20


async def ended(client: Client, workflow: str, iid: str, timeout: float = 30) -> Any:
    async def check() -> Any:
        got = await client.get(workflow, iid)
        return got if got.details.status in ("complete", "errored", "terminated") else None

    return await assert_eventually(check, timeout, interval=0.05)


async def reaches(client: Client, workflow: str, iid: str, status: str) -> None:
    async def check() -> bool:
        return (await client.get(workflow, iid)).details.status == status

    await assert_eventually(check, 30, interval=0.05)


async def child_of(client: Client, workflow: str, iid: str) -> str:
    async def check() -> Any:
        history = await client.history(workflow, iid)
        found = [s.child.id for s in history.steps if s.child is not None]
        return found[0] if found else None

    return str(await assert_eventually(check, 30, interval=0.05))


async def test_outcomes_and_terminations_reach_across_workers(
    settings: Settings, prefix: str
) -> None:
    workers = Workers(settings.redis_url, prefix, FLOWS)
    client = Client(child_flows.workflows, settings)
    try:
        for _ in range(2):
            workers.start()
        await client.create("rc-fan", instance_id="fan", params={"n": 3})
        await client.create("rc-catch", instance_id="fails", params={"mode": "fail"})
        await client.create("rc-catch", instance_id="stopped", params={"mode": "wait"})
        await client.create("rc-catch", instance_id="parent-stopped", params={"mode": "wait"})
        done = await ended(client, "rc-fan", "fan")
        assert [out["x"] for out in done.details.output] == [0, 2, 4]
        failed = await ended(client, "rc-catch", "fails")
        assert failed.details.output["error"] == "NonRetryableError"
        assert failed.details.output["message"] == "the child fails on purpose"
        child = await child_of(client, "rc-catch", "stopped")
        await reaches(client, "rc-kid", child, "waiting")
        await client.terminate("rc-kid", child)
        stopped = await ended(client, "rc-catch", "stopped")
        assert stopped.details.output["error"] == "Terminated"
        orphan = await child_of(client, "rc-catch", "parent-stopped")
        await reaches(client, "rc-kid", orphan, "waiting")
        await client.terminate("rc-catch", "parent-stopped")
        assert (await ended(client, "rc-kid", orphan)).details.status == "terminated"
    finally:
        workers.stop()
        await client.aclose()


async def test_children_start_once_when_the_parents_worker_is_killed(
    settings: Settings, prefix: str, redis: Redis
) -> None:
    """SIGKILL the only worker as soon as the first of FAN children exists, then let two others
    carry on. The parent creates its children (one pipelined burst of creates) before it
    records their steps, so the kill lands between the two for most of them (in trials: all
    20 children existed and no step of the parent was recorded)."""
    workers = Workers(settings.redis_url, prefix, FLOWS)
    client = Client(child_flows.workflows, settings)
    try:
        first = workers.start(lease_ttl="1 s")
        await client.create("rc-fan", instance_id="fan", params={"n": FAN})

        async def a_child_exists() -> bool:
            return bool((await client.list_instances("rc-kid", page_size=1)).instances)

        await assert_eventually(a_child_exists, 30, interval=0.002)
        workers.kill(first)
        for _ in range(2):
            workers.start(lease_ttl="1 s")
        done = await ended(client, "rc-fan", "fan", timeout=60)
        assert done.details.status == "complete"
        assert [out["x"] for out in done.details.output] == [2 * i for i in range(FAN)]
        kids = (await client.list_instances("rc-kid", page_size=100)).instances
        assert len(kids) == FAN
        for kid in kids:
            assert kid.details.status == "complete" and kid.details.run_number == 0
            runs = await redis.get(counter_key(prefix, f"rc-kid/{kid.id}/0/work"))
            assert int(runs) == 1, f"{kid.id} ran its step {runs} times"
    finally:
        workers.stop()
        await client.aclose()
