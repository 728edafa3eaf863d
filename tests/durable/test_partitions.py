"""Partitions: the hash that places an instance, the tags that place partitions on cluster
slots, who serves which partition, and the layout stored in Redis."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import replace

import pytest
from redis.asyncio import Redis

from durable import keys, partitions, store
from durable.errors import PartitionsError
from durable.partitions import Layout
from durable.settings import Settings
from durable.store import Store
from tests.helpers import CLUSTER, reply

pytestmark = pytest.mark.timeout(60)


def test_an_instance_partition_is_a_fixed_hash_of_its_workflow_and_id() -> None:
    # golden values: every process of every version must place an instance where the others do
    assert [partitions.partition_of("orders", f"o-{n}", 48) for n in range(6)] == [
        40, 14, 36, 18, 33, 7,
    ]  # fmt: skip
    assert partitions.partition_of("approvals", "inst_0123456789abcdef", 4) == 1
    assert partitions.partition_of("approvals", "inst_0123456789abcdef", 1) == 0


def test_partition_hashes_spread_instances_evenly() -> None:
    placed = Counter(partitions.partition_of("wf", f"inst_{n}", 48) for n in range(48_000))
    assert len(placed) == 48
    assert max(placed.values()) < 1.15 * 1000 and min(placed.values()) > 0.85 * 1000


def test_the_default_tags_are_fixed() -> None:
    assert partitions.spaced_tags(1) == ("",)
    assert partitions.spaced_tags(48)[:4] == ("p0-26", "p1-426", "p2-108", "p3-70")
    assert len(set(partitions.spaced_tags(48))) == 48


def _cluster_create_ranges(primaries: int) -> list[range]:
    """The slot ranges `redis-cli --cluster create` gives each of N primaries."""
    per, first, cursor, out = 16384 / primaries, 0, 0.0, []
    for i in range(primaries):
        last = round(cursor + per - 1)
        if last > 16383 or i == primaries - 1:
            last = 16383
        out.append(range(first, last + 1))
        first, cursor = last + 1, cursor + per
    return out


@pytest.mark.parametrize("primaries", [1, 2, 3, 4, 6, 8, 12, 16])
def test_48_partitions_spread_evenly_over_the_primaries_of_a_new_cluster(primaries: int) -> None:
    slots = [partitions.slot(tag) for tag in partitions.spaced_tags(48)]
    per_node = [sum(s in r for s in slots) for r in _cluster_create_ranges(primaries)]
    assert per_node == [48 // primaries] * primaries


@pytest.mark.parametrize("count", [2, 5, 7, 48, 100, 256])
def test_each_tag_lands_in_the_middle_of_its_share_of_the_slots(count: int) -> None:
    width = 16384 / count
    for i, tag in enumerate(partitions.spaced_tags(count)):
        assert i * width + width / 4 <= partitions.slot(tag) <= i * width + 3 * width / 4
        assert "/" not in tag and "{" not in tag and "}" not in tag


def test_a_tag_is_the_slot_redis_computes() -> None:
    from redis.crc import key_slot

    for tag in partitions.spaced_tags(48):
        key = keys.queue_key(keys.partition_prefix("durable", tag))
        assert key_slot(key.encode()) == partitions.slot(tag)


@pytest.mark.parametrize("workers", [1, 2, 3, 5, 47, 48, 49, 100])
def test_every_partition_is_served_and_no_worker_serves_more_than_its_share(workers: int) -> None:
    live = [f"host-{n}:{1000 + n}:ab{n}" for n in range(workers)]
    served = {w: partitions.served(48, live, w) for w in live}
    per_partition = Counter(p for mine in served.values() for p in mine)
    assert set(per_partition) == set(range(48))
    share = math.ceil(workers / 48)
    assert min(per_partition.values()) >= share
    loads = [len(mine) for mine in served.values()]
    assert max(loads) <= math.ceil(48 * share / workers)


def test_with_one_partition_every_worker_serves_it() -> None:
    live = ["a", "b", "c"]
    assert [partitions.served(1, live, w) for w in live] == [[0], [0], [0]]


def test_a_dead_worker_hands_on_only_its_own_partitions_mostly() -> None:
    live = [f"w{n}" for n in range(4)]
    before = {w: set(partitions.served(48, live, w)) for w in live}
    after = {w: set(partitions.served(48, live[:3], w)) for w in live[:3]}
    assert set().union(*after.values()) == set(range(48))
    kept = sum(len(before[w] & after[w]) for w in live[:3])
    assert kept >= 24  # most partitions stay where they were


def test_one_partition_keeps_the_keys_of_old() -> None:
    layout = Layout("app")
    assert layout.count == 1 and layout.space(0) == "app"
    assert keys.instance_key(layout.space_of("wf", "i"), "wf", "i") == "app:{wf/i}:i"
    assert keys.queue_key(layout.space(0)) == "app:queue"


def test_several_partitions_put_their_tag_first() -> None:
    layout = Layout.spread("app", 4)
    p = layout.partition_of("wf", "i")
    tag = layout.tags[p]
    assert layout.space_of("wf", "i") == f"app:{{{tag}}}"
    assert keys.instance_key(layout.space_of("wf", "i"), "wf", "i") == f"app:{{{tag}}}:{{wf/i}}:i"
    job = keys.job_id(layout.space(p), "wf", "i", 3)
    assert keys.parse_job_id("app", job) == ("wf", "i")
    assert keys.parse_job_id("app", keys.job_id("app", "wf", "i", 3)) == ("wf", "i")
    assert keys.parse_job_id("other", job) is None
    assert keys.parse_job_id("ap", job) is None


def test_a_key_names_its_partition() -> None:
    tagged = keys.partition_prefix("app", "p3-9")
    assert keys.partition_tag_of("app", keys.instance_key(tagged, "wf", "i")) == "p3-9"
    assert keys.partition_tag_of("app", keys.queue_key(tagged)) == "p3-9"
    job = keys.job_id(tagged, "wf", "i", 1)
    assert keys.partition_tag_of("app", keys.arq_job_key(job)) == "p3-9"
    assert keys.partition_tag_of("app", keys.instance_key("app", "wf", "i")) == ""
    assert keys.partition_tag_of("app", keys.queue_key("app")) == ""
    assert keys.describe("app", keys.meta_key("app")) == "meta"
    assert keys.describe("app", keys.workers_key("app")) == "workers"


async def test_partitioned_scripts_build_their_keys_from_their_first_key(redis: Redis) -> None:
    p = keys.partition_prefix("a.b-c:d", "p7-1")
    script = (
        store.schema_source("a.b-c:d", partitioned=True)
        + """
return {queue_key, leases_key, expiry_key, instance_key('wf', 'i:1'),
  workflow_index_key('wf'), status_index_key('wf', 'queued'), versions_key('wf'),
  instance_job_id('wf', 'i:1', 3), arq_job_key('j'), member_separator}"""
    )
    first = keys.instance_key(p, "wf", "i:1")
    built = [k.decode() for k in await reply(redis.eval(script, 1, first))]
    assert built == [
        keys.queue_key(p), keys.leases_key(p), keys.expiry_key(p),
        keys.instance_key(p, "wf", "i:1"), keys.workflow_index_key(p, "wf"),
        keys.status_index_key(p, "wf", "queued"), keys.versions_key(p, "wf"),
        keys.job_id(p, "wf", "i:1", 3), keys.arq_job_key("j"), keys.TAG_SEPARATOR,
    ]  # fmt: skip


async def test_the_layout_is_stored_at_first_use(settings: Settings, redis: Redis) -> None:
    layout = await Store(redis, replace(settings, partitions=4)).open()
    assert layout == Layout.spread(settings.prefix, 4)
    assert await partitions.read_meta(redis, settings.prefix) == layout.fields()
    # a process that sets nothing takes what is stored
    assert (await Store(redis, settings).open()).count == 4


async def test_a_process_configured_with_other_partitions_refuses(
    settings: Settings, redis: Redis
) -> None:
    stored = (await Store(redis, settings).open()).count
    with pytest.raises(PartitionsError) as refused:
        await Store(redis, replace(settings, partitions=stored + 1)).open()
    message = str(refused.value)
    assert "\n" not in message
    assert f"DURABLE_PARTITIONS is {stored + 1}" in message
    assert f"Redis holds {stored} partition(s)" in message
    assert "durable admin repartition" in message


async def test_partitions_are_refused_over_data_of_one_partition(
    settings: Settings, redis: Redis
) -> None:
    await redis.zadd(keys.workflow_index_key(settings.prefix, "wf"), {"i1": 1})
    with pytest.raises(PartitionsError, match="in one partition"):
        await Store(redis, replace(settings, partitions=4)).open()
    assert await partitions.read_meta(redis, settings.prefix) == {}


async def test_a_repartition_under_way_stops_every_process(
    settings: Settings, redis: Redis
) -> None:
    layout = await Store(redis, settings).open()
    await reply(redis.hset(keys.meta_key(settings.prefix), "repartition_to", "8"))
    with pytest.raises(PartitionsError, match=r"repartition .* to 8 partitions is under way"):
        await Store(redis, settings).open()
    assert layout.count >= 1


def test_one_partition_runs_the_scripts_of_old() -> None:
    settings = Settings(prefix="app")
    for name in store.SCRIPTS:
        one = store.script_source(name, settings)
        assert "partition" not in one.split("\n", 1)[0]
        assert "local queue_key = 'app:queue'" in one
        assert "string.match(KEYS[1]" not in one
        several = store.script_source(name, settings, partitioned=True)
        assert several.startswith(store._PARTITION_OF_KEYS)
        assert "local queue_key = partition .. ':queue'" in several


async def test_one_partition_is_never_stored_on_a_cluster(settings: Settings, redis: Redis) -> None:
    if not CLUSTER:
        pytest.skip("a Redis Cluster refuses one partition")
    with pytest.raises(PartitionsError, match="Redis Cluster needs several partitions"):
        await Store(redis, replace(settings, partitions=1)).open()
    assert await partitions.read_meta(redis, settings.prefix) == {}
    assert (await Store(redis, settings).open()).count == 48
