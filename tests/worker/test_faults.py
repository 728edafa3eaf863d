"""Faults: a frozen worker outlives its lease, Redis restarts under load, skewed clocks."""

from __future__ import annotations

import os
import signal
import time
from dataclasses import replace
from typing import Any

import pytest
from redis.asyncio import Redis

from durable.client import Client
from durable.clock import Clock
from durable.runner import Engine
from durable.settings import Settings
from tests import flows
from tests.helpers import assert_eventually
from tests.worker.conftest import Procs, counter, owner_pid

pytestmark = pytest.mark.timeout(120)


async def test_a_frozen_worker_late_write_is_refused(procs, client, redis):
    procs.start(lease_ttl="1 s")
    await client.create("held", instance_id="z1", params={"hold": 2})
    await assert_eventually(lambda: counter(redis, "z1", "work"), 15)
    pid = await owner_pid(redis, client, "held", "z1")
    os.kill(pid, signal.SIGSTOP)
    try:
        procs.start(lease_ttl="1 s")

        async def done() -> bool:
            return (await client.get("held", "z1"))["details"]["status"] == "complete"

        await assert_eventually(done, 20)
    finally:
        os.kill(pid, signal.SIGCONT)
    before = await client.history("held", "z1")
    time.sleep(2.5)  # the thawed worker's step ends now and tries to record its result
    after = await client.history("held", "z1")
    assert before["steps"] == after["steps"]
    got = await client.get("held", "z1")
    assert got["details"]["output"] == [1, 2, 1]  # the second worker's result stands
    assert await counter(redis, "z1", "work") == 2


async def test_workers_and_clients_carry_on_after_a_redis_restart(private_redis, prefix):
    os.environ["DURABLE_PREFIX"] = prefix
    group = Procs(prefix)
    env_url = os.environ.get("REDIS_URL")
    os.environ["REDIS_URL"] = private_redis.url
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
        time.sleep(1.0)
        private_redis.start()

        async def all_complete() -> bool:
            got = [await c.get("mixed", i) for i in ids]
            return all(g["details"]["status"] == "complete" for g in got)

        await assert_eventually(all_complete, 45)
        for i in ids:
            assert (await c.get("mixed", i))["details"]["output"]["event"] == i
    finally:
        await c.aclose()
        group.stop()
        if env_url is None:
            os.environ.pop("REDIS_URL", None)
        else:
            os.environ["REDIS_URL"] = env_url


@pytest.mark.parametrize("skew_s", [-3.0, 3.0])
async def test_timers_follow_redis_time_whatever_the_worker_clock(
    settings: Settings, redis: Redis, skew_s: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DURABLE_PREFIX", settings.prefix)
    client = Client(flows.workflows, replace(settings, lease_ttl_ms=5000))
    skewed = Clock(lambda: time.time() + skew_s)
    client._engine = Engine(client.store, client.registry, clock=skewed)
    try:
        await client.create("mixed", instance_id="sk1", params={"sleep_ms": 700})
        await client.send_event("mixed", "sk1", type="go", payload=1)
        started = time.monotonic()
        await client.tick()
        steps = {s["stepKey"]: s for s in (await client.history("mixed", "sk1"))["steps"]}
        assert steps["nap"]["status"] == "waiting"

        async def woke() -> Any:
            await client.tick()
            got = await client.get("mixed", "sk1")
            return got["details"]["status"] == "complete" and time.monotonic() - started

        elapsed = await assert_eventually(woke, 10, interval=0.01)
        assert 0.69 <= elapsed < 1.5
    finally:
        await client.aclose()
