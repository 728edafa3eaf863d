"""Idle workers block on the wake marker instead of polling: real worker processes, woken by the
scripts that make work due (docs/architecture.md, "Wake-ups")."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess

import pytest
from redis.asyncio import Redis

from durable.client import Client
from durable.worker.claim import WAITER_NAME
from tests.helpers import assert_eventually
from tests.worker.conftest import Procs, counter, owner_pid, status

pytestmark = pytest.mark.timeout(120)


async def blocked(redis: Redis, proc: subprocess.Popen[bytes]) -> bool:
    """Whether worker `proc` waits for work, blocked on the wake marker (its waiting connection
    is named after the worker and flagged blocked in CLIENT LIST)."""
    name = f"{WAITER_NAME}{socket.gethostname()}:{proc.pid}"
    for entry in await redis.client_list():
        if entry.get("name") == name and "b" in entry.get("flags", ""):
            return True
    assert proc.poll() is None, f"worker {proc.pid} exited with {proc.returncode}"
    return False


async def all_blocked(redis: Redis, *procs: subprocess.Popen[bytes]) -> bool:
    return all([await blocked(redis, proc) for proc in procs])


async def complete(client: Client, workflow: str, *ids: str) -> bool:
    return all([await status(client, workflow, i) == "complete" for i in ids])


async def spread_ids(client: Client, workflow: str, count: int) -> list[str]:
    """`count` instance ids, each in a partition of its own when there are several: a worker
    serves its share of the partitions only (durable/membership.py), so instances that all
    hash into one worker's share would never reach the other."""
    layout = await client.store.open()
    ids: list[str] = []
    seen: set[str] = set()
    n = 0
    while len(ids) < count:
        iid, n = f"s{n}", n + 1
        space = layout.space_of(workflow, iid)
        if layout.count == 1 or space not in seen:
            seen.add(space)
            ids.append(iid)
    return ids


async def test_a_blocked_worker_takes_a_new_instance(
    procs: Procs, client: Client, redis: Redis
) -> None:
    worker = procs.start(lease_ttl="60 s")  # a 2 s block: what wakes it is the marker
    await assert_eventually(lambda: blocked(redis, worker), 20)
    await client.create("held", instance_id="w1", params={"hold": 0})
    await assert_eventually(lambda: complete(client, "held", "w1"), 20)
    await assert_eventually(lambda: blocked(redis, worker), 20)  # and it waits again


async def take_behind_block(redis: Redis, proc: subprocess.Popen[bytes]) -> bool:
    """Whether worker `proc` is blocked with a take waiting behind its BZPOPMIN: the take's
    bytes sit unread in the blocked connection's query buffer (`qbuf`) until the block ends."""
    name = f"{WAITER_NAME}{socket.gethostname()}:{proc.pid}"
    for entry in await redis.client_list():
        if entry.get("name") == name and "b" in entry.get("flags", ""):
            return int(entry.get("qbuf", 0)) > 0
    assert proc.poll() is None, f"worker {proc.pid} exited with {proc.returncode}"
    return False


async def test_a_blocked_worker_has_its_take_sent_behind_its_block(
    procs: Procs, client: Client, redis: Redis
) -> None:
    worker = procs.start(lease_ttl="60 s")
    await assert_eventually(lambda: take_behind_block(redis, worker), 20)
    await client.create("held", instance_id="t1", params={"hold": 0})
    await assert_eventually(lambda: complete(client, "held", "t1"), 20)
    await assert_eventually(lambda: take_behind_block(redis, worker), 20)  # and again


async def test_instances_created_at_once_wake_both_blocked_workers(
    procs: Procs, client: Client, redis: Redis
) -> None:
    # two slots each, so no one worker can take them all: the other must wake too
    workers = [procs.start(lease_ttl="60 s", concurrency=2) for _ in range(2)]
    await assert_eventually(lambda: all_blocked(redis, *workers), 20)
    ids = await spread_ids(client, "held", 12)
    await client.create_batch("held", [{"id": i, "params": {"hold": 1}} for i in ids])
    owners: set[int] = set()

    async def both_worked() -> bool:
        owners.update([await owner_pid(redis, client, "held", i) for i in ids])
        return {w.pid for w in workers} <= owners

    await assert_eventually(both_worked, 30, interval=0.05)
    await assert_eventually(lambda: complete(client, "held", *ids), 60)
    assert all([await counter(redis, i, "work") == 1 for i in ids])


async def test_timers_fire_while_the_workers_are_blocked(
    procs: Procs, client: Client, redis: Redis
) -> None:
    workers = [procs.start(lease_ttl="60 s") for _ in range(2)]
    await assert_eventually(lambda: all_blocked(redis, *workers), 20)
    # a 300 ms sleep, then a step that fails once and is retried 50 ms later: two timers
    await client.create("mixed", instance_id="t1", params={"sleep_ms": 300})

    async def waits_for_its_event() -> bool:
        got = await client.get("mixed", "t1")
        current = got.meta.current_step
        return current is not None and current.step_key == "go" and current.status == "waiting"

    await assert_eventually(waits_for_its_event, 30)
    assert await counter(redis, "t1", "flaky") == 1
    await client.send_event("mixed", "t1", type="go", payload="ok")
    await assert_eventually(lambda: complete(client, "mixed", "t1"), 20)


async def test_a_killed_workers_lease_is_recovered_while_the_others_are_blocked(
    procs: Procs, client: Client, redis: Redis
) -> None:
    first = procs.start(lease_ttl="2 s")
    await client.create("held", instance_id="k1", params={"hold": 2})
    await assert_eventually(lambda: counter(redis, "k1", "work"), 15)
    assert await owner_pid(redis, client, "held", "k1") == first.pid
    others = [procs.start(lease_ttl="2 s") for _ in range(2)]
    await assert_eventually(lambda: all_blocked(redis, *others), 20)
    os.kill(first.pid, signal.SIGKILL)
    await assert_eventually(lambda: complete(client, "held", "k1"), 30)
    assert await counter(redis, "k1", "work") == 2  # run again by a worker that was blocked
    got = await client.get("held", "k1")
    assert got.details.output == [1, 2, 1]


async def test_sigterm_stops_a_blocked_worker_at_once_with_status_zero(
    procs: Procs, redis: Redis
) -> None:
    worker = procs.start(lease_ttl="60 s", grace="30 s")
    await assert_eventually(lambda: blocked(redis, worker), 20)
    worker.send_signal(signal.SIGTERM)
    # far less than the 30 s grace or a block could take; how long it took is not measured
    assert await asyncio.to_thread(worker.wait, 15) == 0


async def test_a_burst_worker_ends_once_no_work_is_due(
    procs: Procs, client: Client, redis: Redis
) -> None:
    ids = [f"b{n}" for n in range(5)]
    await client.create_batch("held", [{"id": i, "params": {"hold": 0}} for i in ids])
    await client.create("mixed", instance_id="later", params={"sleep_ms": 3_600_000})
    worker = procs.start(burst=True)
    assert await asyncio.to_thread(worker.wait, 60) == 0
    assert await complete(client, "held", *ids)
    # the hour-long sleep is not work due now: the burst ended without waiting for it
    assert await status(client, "mixed", "later") == "waiting"
