"""Several real worker processes: crashes, graceful shutdown, and races for one instance."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from durable.client import Client
from tests.helpers import assert_eventually
from tests.worker.conftest import Procs, counter, owner_pid, status

pytestmark = pytest.mark.timeout(120)
ROOT = Path(__file__).resolve().parents[2]


async def test_a_killed_worker_instance_is_finished_by_another(
    procs: Procs, client: Client, redis: Redis
) -> None:
    procs.start()
    procs.start()
    await client.create("held", instance_id="k1", params={"hold": 2})
    await assert_eventually(lambda: counter(redis, "k1", "work"), 15)
    pid = await assert_eventually(lambda: owner_pid(redis, client, "held", "k1"), 5)
    os.kill(pid, signal.SIGKILL)

    async def done() -> bool:
        return await status(client, "held", "k1") == "complete"

    # Recovery goes by the 2 s lease: nothing else (the day-long job timeout) would finish the
    # instance within the polling limit.
    await assert_eventually(done, 30)
    got = await client.get("held", "k1")
    assert got.details.output == [1, 2, 1]
    assert await counter(redis, "k1", "work") == 2  # at-least-once execution ...
    steps = (await client.history("held", "k1")).steps
    assert sorted(s.step_key for s in steps) == ["after", "before", "work"]  # ... recorded once
    assert all(s.status == "completed" for s in steps)


async def test_sigterm_hands_work_over_without_waiting_for_the_lease(
    procs: Procs, client: Client, redis: Redis
) -> None:
    first = procs.start(lease_ttl="30 s", grace="1 s")
    await client.create("held", instance_id="t1", params={"hold": 4})
    await assert_eventually(lambda: counter(redis, "t1", "work"), 15)
    assert await owner_pid(redis, client, "held", "t1") == first.pid
    procs.start(lease_ttl="30 s", grace="1 s")
    first.send_signal(signal.SIGTERM)
    assert first.wait(15) == 0
    # By the time it has exited, the worker has given its 30 s lease back.
    assert await owner_pid(redis, client, "held", "t1") != first.pid

    async def rerun() -> bool:
        return await counter(redis, "t1", "work") == 2

    await assert_eventually(rerun, 20)  # well inside the 30 s the lease would have lasted
    await assert_eventually(lambda: _is(status(client, "held", "t1"), "complete"), 15)


async def _is(value: Any, expected: Any) -> bool:
    return bool(await value == expected)


async def test_sigterm_lets_a_short_step_finish_and_exits_zero(
    procs: Procs, client: Client, redis: Redis
) -> None:
    proc = procs.start(grace="10 s")
    await client.create("held", instance_id="t2", params={"hold": 0.5})
    await assert_eventually(lambda: counter(redis, "t2", "work"), 15)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(15) == 0
    assert await counter(redis, "t2", "work") == 1
    steps = {s.step_key: s for s in (await client.history("held", "t2")).steps}
    assert steps["work"].status == "completed"


async def test_many_instances_on_three_workers_record_each_step_once(
    procs: Procs, client: Client, redis: Redis
) -> None:
    for _ in range(3):
        procs.start()
    ids = [f"m{n}" for n in range(40)]
    await client.create_batch("mixed", [{"id": i, "params": {"sleep_ms": 50}} for i in ids])

    async def all_waiting() -> bool:
        got = [await client.get("mixed", i) for i in ids]
        return all(
            g.details.status == "waiting"
            and g.meta.current_step is not None
            and g.meta.current_step.type == "waitForEvent"
            for g in got
        )

    await assert_eventually(all_waiting, 30)
    await asyncio.gather(*(client.send_event("mixed", i, type="go", payload=i) for i in ids))

    async def all_complete() -> bool:
        return all([await status(client, "mixed", i) == "complete" for i in ids])

    await assert_eventually(all_complete, 30)
    for i in ids:
        assert await counter(redis, i, "one") == 1
        assert await counter(redis, i, "flaky") == 1
        assert (await client.get("mixed", i)).details.output == {"a": 1, "b": 1, "event": i}
