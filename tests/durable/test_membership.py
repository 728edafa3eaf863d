"""The registry of live workers: heartbeats, the partitions each worker serves, and a dead
worker's partitions taken over once its entry lapses."""

from __future__ import annotations

from dataclasses import replace

import pytest
from redis.asyncio import Redis

from durable import membership
from durable.membership import Membership
from durable.settings import Settings
from durable.store import Store
from tests.helpers import assert_eventually

pytestmark = pytest.mark.timeout(60)


async def test_workers_split_the_partitions_and_a_leaver_hands_its_own_on(
    settings: Settings, redis: Redis
) -> None:
    store = Store(redis, replace(settings, partitions=4))
    changes: list[list[int]] = []
    a = Membership(store, "host:1#a", changes.append)
    b = Membership(store, "host:2#b")
    await a.join()
    assert a.served == [0, 1, 2, 3]  # alone: everything
    await b.join()
    await a.beat()
    assert sorted(a.served + b.served) == [0, 1, 2, 3]
    assert len(a.served) == len(b.served) == 2
    assert sorted(await membership.live_workers(redis, settings.prefix)) == ["host:1#a", "host:2#b"]
    await b.leave()
    await a.beat()
    assert a.served == [0, 1, 2, 3]
    assert changes[-1] == [0, 1, 2, 3] and len(changes) == 3


async def test_a_dead_workers_partitions_are_taken_over_when_its_entry_lapses(
    settings: Settings, redis: Redis
) -> None:
    # lease TTL 1 s: entries live 500 ms
    store = Store(redis, replace(settings, partitions=6, lease_ttl_ms=1000))
    alive, dead = Membership(store, "alive"), Membership(store, "dead")
    await dead.join()
    await alive.join()
    assert alive.ttl_ms == 500 and len(alive.served) == 3

    async def took_over() -> bool:
        await alive.beat()  # the dead one beats no more
        return alive.served == list(range(6))

    await assert_eventually(took_over, timeout=5)
    assert await membership.live_workers(redis, settings.prefix) == ["alive"]


async def test_with_one_partition_every_worker_serves_it_and_beats_rarely(
    settings: Settings, redis: Redis
) -> None:
    store = Store(redis, replace(settings, partitions=None))
    layout = await store.open()
    if layout.count != 1:
        pytest.skip("one partition is for one Redis")
    workers = [Membership(store, name) for name in ("a", "b", "c")]
    for worker in workers:
        assert await worker.join() == [0]
    assert workers[0].interval_s == 30.0
