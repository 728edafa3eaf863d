"""A schedule run by three real worker processes: declared in code, made once, one instance
per tick however many workers run or die (durable/ticker.py)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path

import pytest
from redis.asyncio import Redis

from durable.client import Client
from durable.errors import ScheduleNotFoundError
from durable.settings import Settings
from tests.conftest import REDIS_URL
from tests.helpers import assert_eventually
from tests.worker import schedule_flows
from tests.worker.conftest import owner_pid

pytestmark = pytest.mark.timeout(120)
ROOT = Path(__file__).resolve().parents[2]
TICKER, TICKER_ID = "durable.schedule", "per-tick:every-second"
TICK_ID = re.compile(r"every-second:(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)")


@pytest.fixture
def start_worker(prefix: str) -> Iterator[object]:
    procs: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        env = {**os.environ, "REDIS_URL": REDIS_URL, "DURABLE_PREFIX": prefix,
               "PYTHONPATH": str(ROOT)}  # fmt: skip
        code = (
            "from durable.worker import run_worker; "
            "run_worker('tests.worker.schedule_flows:workflows', lease_ttl='2 s')"
        )
        proc = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=ROOT)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[Client]:
    c = Client(schedule_flows.workflows, settings)
    yield c
    await c.aclose()


async def declared(client: Client) -> bool:
    try:
        await client.get_schedule("per-tick", "every-second")
    except ScheduleNotFoundError:
        return False
    return True


async def ticks(client: Client) -> list[float]:
    seen: list[str] = []
    cursor = None
    while True:
        page = await client.list_instances("per-tick", page_size=100, cursor=cursor)
        seen += [item.id for item in page.instances]
        cursor = page.next_cursor
        if cursor is None:
            break
    stamps = []
    for iid in seen:
        match = TICK_ID.fullmatch(iid)
        assert match, iid
        stamps.append(datetime.fromisoformat(match[1]).timestamp())
    return sorted(stamps)


async def test_three_workers_start_one_instance_per_tick(
    start_worker: object, client: Client, redis: Redis
) -> None:
    workers = [start_worker() for _ in range(3)]  # type: ignore[operator]
    await assert_eventually(lambda: declared(client), 30)

    async def some(n: int) -> list[float] | None:
        found = await ticks(client)
        return found if len(found) >= n else None

    await assert_eventually(lambda: some(3), 30)
    # kill the worker that holds the ticker, once, while it ticks: it holds the lease for a few
    # milliseconds a second (a take a little ahead of the tick, the tick's start), so look often
    holder = await assert_eventually(
        lambda: owner_pid(redis, client, TICKER, TICKER_ID), 30, interval=0.001
    )
    victim = next((p for p in workers if p.pid == holder), None)
    assert victim is not None
    victim.send_signal(signal.SIGKILL)

    async def consecutive() -> list[float] | None:
        # a catch-up creates several ticks' instances in one batch, which on a cluster is not
        # atomic across nodes: a listing may see a later tick before an earlier one
        found = await some(8)
        if found is None or found != [found[0] + n for n in range(len(found))]:
            return None
        return found

    await assert_eventually(consecutive, 40)  # every tick once, in order
    listed = await client.list_schedules("per-tick")
    assert [s.id for s in listed.schedules] == ["every-second"]
    tickers = await client.list_instances("durable.schedule")
    assert [t.id for t in tickers.instances] == ["per-tick:every-second"]  # made once
