"""Faults: a frozen worker outlives its lease, Redis restarts under load, skewed clocks."""

from __future__ import annotations

import os
import re
import signal
import time
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from durable.client import Client
from durable.clock import Clock
from durable.runner import Runner
from durable.settings import Settings
from tests import flows
from tests.helpers import PrivateRedis, assert_eventually, free_port, iso_ms
from tests.worker.conftest import Procs, counter, owner_pid

pytestmark = pytest.mark.timeout(120)


def lost_executions(port: int) -> float:
    """How many executions of `held` a worker serving its metrics on `port` saw lose their
    lease (a write refused for its fencing token)."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    pattern = r'durable_executions_total\{outcome="lost",workflow="held"\} ([0-9.]+)'
    found = re.search(pattern, text)
    return float(found[1]) if found else 0.0


async def test_a_frozen_worker_late_write_is_refused(
    procs: Procs, client: Client, redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    monkeypatch.setenv("DURABLE_METRICS_PORT", str(port))
    procs.start(lease_ttl="1 s")
    monkeypatch.delenv("DURABLE_METRICS_PORT")
    await client.create("held", instance_id="z1", params={"hold": 2})
    await assert_eventually(lambda: counter(redis, "z1", "work"), 15)
    pid = await owner_pid(redis, client, "held", "z1")
    assert lost_executions(port) == 0
    os.kill(pid, signal.SIGSTOP)
    try:
        procs.start(lease_ttl="1 s")

        async def done() -> bool:
            got = await client.get("held", "z1")
            return bool(got.details.status == "complete")

        await assert_eventually(done, 20)
        before = await client.history("held", "z1")
    finally:
        os.kill(pid, signal.SIGCONT)

    # Thawed, the worker's step ends and tries to record its result: refused, the execution
    # ends as lost (its worker counts it), so by then its late write has been made.
    async def frozen_execution_lost() -> bool:
        return lost_executions(port) == 1

    await assert_eventually(frozen_execution_lost, 30)
    os.kill(pid, 0)  # the worker itself is still alive: its execution ended, not the process
    after = await client.history("held", "z1")
    assert before.steps == after.steps
    got = await client.get("held", "z1")
    assert got.details.output == [1, 2, 1]  # the second worker's result stands
    assert await counter(redis, "z1", "work") == 2


async def test_workers_and_clients_carry_on_after_a_redis_restart(
    private_redis: PrivateRedis, prefix: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DURABLE_PREFIX", prefix)
    monkeypatch.setenv("REDIS_URL", private_redis.url)
    group = Procs(prefix, tmp_path)
    settings = Settings(redis_url=private_redis.url, prefix=prefix, lease_ttl_ms=2000)
    c = Client(flows.workflows, settings)
    try:
        group.redis_url = private_redis.url
        group.start()
        group.start()
        ids = [f"rr{n}" for n in range(20)]
        await c.create_batch("mixed", [{"id": i, "params": {"sleep_ms": 1500}} for i in ids])
        for i in ids:
            await c.send_event("mixed", i, type="go", payload=i)
        private_redis.stop()
        time.sleep(1.0)  # the outage itself, not a wait for an outcome
        private_redis.start()

        async def all_complete() -> bool:
            got = [await c.get("mixed", i) for i in ids]
            return all(g.details.status == "complete" for g in got)

        await assert_eventually(all_complete, 45)
        for i in ids:
            assert (await c.get("mixed", i)).details.output["event"] == i
    finally:
        await c.aclose()
        group.stop()


# Far more than any delay of the test itself: a timer that followed the worker's clock would wake
# a minute early or a minute late, which the Redis timestamps below tell apart from scheduling.
SKEW_MS = 60_000


@pytest.mark.parametrize("skew_ms", [-SKEW_MS, SKEW_MS])
async def test_timers_follow_redis_time_whatever_the_worker_clock(
    settings: Settings, redis: Redis, skew_ms: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DURABLE_PREFIX", settings.prefix)
    client = Client(flows.workflows, replace(settings, lease_ttl_ms=5000))
    skewed = Clock(lambda: time.time() + skew_ms / 1000)
    client._runner = Runner(client.store, client.registry, clock=skewed)
    try:
        await client.create("mixed", instance_id="sk1", params={"sleep_ms": 700})
        await client.send_event("mixed", "sk1", type="go", payload=1)
        await client.tick()
        steps = {s.step_key: s for s in (await client.history("mixed", "sk1")).steps}
        assert steps["nap"].status == "waiting"

        async def woke() -> bool:
            await client.tick()
            got = await client.get("mixed", "sk1")
            return bool(got.details.status == "complete")

        await assert_eventually(woke, 20, interval=0.01)
        got = await client.get("mixed", "sk1")
        steps = {s.step_key: s for s in (await client.history("mixed", "sk1")).steps}
    finally:
        await client.aclose()
    # createdAt and completedAt are Redis TIME; wakeAt is what the engine computed.
    assert got.meta.completed_at is not None and steps["nap"].wake_at is not None
    created, completed = iso_ms(got.meta.created_at), iso_ms(got.meta.completed_at)
    wake = iso_ms(steps["nap"].wake_at)
    assert 700 <= wake - created < SKEW_MS / 2  # set 700 ms ahead in Redis time
    assert wake <= completed < wake + SKEW_MS / 2  # and kept: not early, not a skew late
