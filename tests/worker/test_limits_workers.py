"""Concurrency and rate limits with real worker processes (two of them): at most N active per
key, started in creation order, other keys not held back, a worker SIGKILLed while its
instance holds a slot, a rate limit over two periods, and meta.waitingFor over HTTP."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from durable.client import Client
from durable.settings import Settings
from tests.conftest import REDIS_URL
from tests.helpers import assert_eventually
from tests.reliability.support import api_server
from tests.worker import limit_flows
from tests.worker.conftest import owner_pid
from tests.worker.limit_flows import PERIOD_MS, RATE, key

pytestmark = pytest.mark.timeout(120)
ROOT = Path(__file__).resolve().parents[2]
WF = "per-tenant"


class Workers:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        env = {**os.environ, "REDIS_URL": REDIS_URL, "DURABLE_PREFIX": self.prefix,
               "PYTHONPATH": str(ROOT)}  # fmt: skip
        code = (
            "from durable.worker import run_worker; "
            "run_worker('tests.worker.limit_flows:workflows', lease_ttl='2 s')"
        )
        proc = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=ROOT)
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)


@pytest.fixture
def workers(prefix: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Workers]:
    monkeypatch.setenv("DURABLE_PREFIX", prefix)  # limit_flows.key, here and in the workers
    group = Workers(prefix)
    group.start()
    group.start()
    yield group
    group.stop()


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[Client]:
    c = Client(limit_flows.workflows, settings)
    yield c
    await c.aclose()


@pytest.fixture
def api(settings: Settings) -> Iterator[str]:
    with api_server(settings, limit_flows.workflows) as base:
        yield base


async def starts(redis: Redis, tenant: str) -> list[str]:
    return [v.decode() for v in await redis.lrange(key("starts", tenant), 0, -1)]  # type: ignore[misc]


async def started(redis: Redis, tenant: str, expected: list[str]) -> None:
    async def check() -> bool:
        return await starts(redis, tenant) == expected

    await assert_eventually(check, timeout=30)


def waiting_for(api: str, workflow: str, iid: str) -> Any:
    """meta.waitingFor as the HTTP API serves it (None when absent)."""
    url = f"{api}/api/workflows/{workflow}/instances/{iid}"
    return httpx.get(url, timeout=5).json()["meta"].get("waitingFor")


async def waits_over_http(api: str, workflow: str, iid: str, expected: Any) -> None:
    async def check() -> bool:
        return bool(await asyncio.to_thread(waiting_for, api, workflow, iid) == expected)

    await assert_eventually(check, timeout=30)


async def test_one_active_per_key_in_creation_order_and_other_keys_run_meanwhile(
    workers: Workers, client: Client, redis: Redis, api: str
) -> None:
    await client.create(WF, instance_id="a-1", params={"tenant": "a"})
    await started(redis, "a", ["a-1"])
    # created in an order that is not the ids' order; distinct creation times
    later = ["a-5", "a-3", "a-4", "a-2"]
    for iid in later:
        await client.create(WF, instance_id=iid, params={"tenant": "a"})
        await asyncio.sleep(0.01)
    await client.create(WF, instance_id="b-1", params={"tenant": "b"})
    await started(redis, "b", ["b-1"])  # another key's slot is its own
    for iid in later:
        await waits_over_http(api, WF, iid, {"limit": "concurrency", "key": "tenant", "value": "a"})
    document = httpx.get(f"{api}/api/workflows/openapi.json", timeout=5).json()
    assert "waitingFor" in document["components"]["schemas"]["Meta"]["properties"]
    expected = ["a-1"]
    for iid in later:
        await redis.set(key("release", expected[-1]), 1)
        expected.append(iid)
        await started(redis, "a", expected)
    await redis.set(key("release", "a-2"), 1)
    await redis.set(key("release", "b-1"), 1)
    for iid in ["a-1", *later, "b-1"]:
        assert (await client.wait(WF, iid, timeout="30 s")).details.status == "complete"
    assert await redis.get(key("over", "a")) is None  # never two of one key active at once
    assert await redis.get(key("over", "b")) is None


async def test_a_worker_killed_while_its_instance_holds_the_slot_leaks_nothing(
    workers: Workers, client: Client, redis: Redis, api: str
) -> None:
    await client.create(WF, instance_id="k-1", params={"tenant": "k"})
    await started(redis, "k", ["k-1"])
    await client.create(WF, instance_id="k-2", params={"tenant": "k"})
    await waits_over_http(api, WF, "k-2", {"limit": "concurrency", "key": "tenant", "value": "k"})
    holder = await owner_pid(redis, client, WF, "k-1")
    assert holder in {proc.pid for proc in workers.procs}
    os.kill(holder, signal.SIGKILL)

    async def resumed() -> bool:  # lease recovery runs k-1's held step again elsewhere
        return bool(await redis.get(key("attempts", "k-1")) == b"2")

    await assert_eventually(resumed, timeout=30)
    # the slot is still k-1's (it is active): k-2 waits
    assert await asyncio.to_thread(waiting_for, api, WF, "k-2") is not None
    assert await starts(redis, "k") == ["k-1"]
    await redis.set(key("release", "k-1"), 1)
    await started(redis, "k", ["k-1", "k-2"])
    await redis.set(key("release", "k-2"), 1)
    first = await client.wait(WF, "k-1", timeout="30 s")
    assert first.details.status == "complete" and first.details.output == {"attempts": 2}
    assert (await client.wait(WF, "k-2", timeout="30 s")).details.status == "complete"
    assert await redis.get(key("over", "k")) is None


async def test_a_rate_limit_over_two_periods(
    workers: Workers, client: Client, redis: Redis, api: str
) -> None:
    ids = [f"r-{n}" for n in range(5)]
    for iid in ids:
        await client.create("rated", instance_id=iid)
    rated = {"limit": "rateLimit", "key": None, "value": None}

    async def one_waits() -> bool:
        found = [await asyncio.to_thread(waiting_for, api, "rated", iid) for iid in ids]
        return rated in found

    await assert_eventually(one_waits, timeout=30)
    for iid in ids:
        assert (await client.wait("rated", iid, timeout="60 s")).details.status == "complete"
    raw = await redis.lrange(key("times", "rated"), 0, -1)  # type: ignore[misc]
    times = sorted(int(t) for t in raw)
    assert len(times) == 5
    # a sliding window of PERIOD_MS lets RATE starts in: any RATE + 1 consecutive starts span
    # a period (less the time a granted instance may take to reach its first step)
    slack = 500
    for first, last in zip(times, times[RATE:], strict=False):
        assert last - first >= PERIOD_MS - slack, times


async def test_terminate_over_http_frees_the_slot(
    workers: Workers, client: Client, redis: Redis, api: str
) -> None:
    await client.create(WF, instance_id="h-1", params={"tenant": "h"})
    await started(redis, "h", ["h-1"])
    await client.create(WF, instance_id="h-2", params={"tenant": "h"})
    await waits_over_http(api, WF, "h-2", {"limit": "concurrency", "key": "tenant", "value": "h"})
    url = f"{api}/api/workflows/{WF}/instances/h-1/terminate"
    assert (await asyncio.to_thread(httpx.post, url, timeout=5)).status_code < 300
    await started(redis, "h", ["h-1", "h-2"])
    assert await asyncio.to_thread(waiting_for, api, WF, "h-2") is None
