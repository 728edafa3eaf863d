"""SIGKILL of random workers at random moments while many instances run: nothing is lost."""

from __future__ import annotations

import asyncio
import os
import random
import signal

import pytest
from redis.asyncio import Redis

from durable import keys
from durable.client import Client
from tests.helpers import assert_eventually
from tests.worker.conftest import Procs, counter

pytestmark = pytest.mark.timeout(180)


async def test_random_kills_lose_nothing_and_record_each_step_once(
    procs: Procs, client: Client, redis: Redis
) -> None:
    rng = random.Random(int.from_bytes(os.urandom(4), "big"))
    live = [procs.start(lease_ttl="1 s") for _ in range(3)]
    ids = [f"c{n}" for n in range(80)]
    await client.create_batch(
        "mixed", [{"id": i, "params": {"sleep_ms": rng.randint(50, 2500)}} for i in ids]
    )
    for i in ids:
        await client.send_event("mixed", i, type="go", payload=i, event_id=f"go-{i}")
    kills = 0
    for _ in range(6):
        await asyncio.sleep(rng.uniform(0.2, 0.8))  # chaos pacing: kills at random moments
        victim = live.pop(rng.randrange(len(live)))
        victim.send_signal(signal.SIGKILL)
        kills += 1
        live.append(procs.start(lease_ttl="1 s"))

    async def all_complete() -> bool:
        got = [await client.get("mixed", i) for i in ids]
        stuck = [g for g in got if g.details.status != "complete"]
        assert not stuck, stuck[:3]
        return True

    await assert_eventually(all_complete, 40)
    assert kills == 6
    for i in ids:
        got = await client.get("mixed", i)
        assert got.details.output["event"] == i
        history = await client.history("mixed", i, page_size=100)
        step_keys = [s.step_key for s in history.steps]
        assert sorted(step_keys) == ["flaky", "go", "nap", "one"]
        assert all(s.status == "completed" for s in history.steps)
        assert [(e.id, e.consumed_by_step_key) for e in history.events] == [(f"go-{i}", "go")]
        # the recorded result is the first committed one: a later re-run cannot overwrite it
        assert got.details.output["a"] <= await counter(redis, i, "one")
    for space in (await client.store.open()).spaces():
        assert await redis.zcard(keys.leases_key(space)) == 0
        assert await redis.zcard(keys.queue_key(space)) == 0
