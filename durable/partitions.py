"""Partitions: a fixed number P of hash-tagged slices of the key space.

Each partition is one Redis Cluster hash tag holding its own queue, wake marker, lease and
expiry sets and per-workflow indexes, and every instance lives in exactly one of them (a stable
hash of "workflow/id"), so each script touches a single slot. P = 1 is the single-Redis layout
of old: its keys carry no partition tag at all (`keys.partition_prefix(prefix, "")` is the
prefix itself), so data written before partitions existed stays readable as it is.

P and the tag of each partition are stored in Redis at first use (`keys.meta_key`, written in
one step when absent), so every process of a deployment agrees on them; a process configured
with another P (DURABLE_PARTITIONS) refuses to start, and `durable admin repartition` changes
them (durable/repartition.py). On Redis Cluster, P defaults to 48 (an even share for 1-4, 6,
8, 12, 16, 24 or 48 primaries), each tag chosen so that its slot lies in the middle of its
1/P-th of the 16384 slots: the primaries `redis-cli --cluster create` makes each get P/N
partitions.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import math
import zlib
from binascii import crc_hqx
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from redis.exceptions import RedisError

from durable import keys
from durable.errors import PartitionsError
from durable.settings import Settings

SLOTS = 16384
# How long a service's check at start-up waits for Redis; after that it is left to first use.
VERIFY_TIMEOUT_S = 3.0
SINGLE_NODE_DEFAULT = 1
CLUSTER_DEFAULT = 48

# Writes the layout only when none is stored, in one step (two processes starting at once
# with different settings cannot mix their fields), and answers what is stored.
_INITIALISE = """
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('HSET', KEYS[1], unpack(ARGV)) end
return redis.call('HGETALL', KEYS[1])
"""


def partition_of(workflow: str, instance_id: str, count: int) -> int:
    """An instance's partition: CRC-32 of "workflow/id" modulo P (the same in every process,
    whatever its Python hash seed)."""
    if count == 1:
        return 0
    return zlib.crc32(keys.tag(workflow, instance_id).encode()) % count


def served(count: int, workers: Sequence[str], me: str) -> list[int]:
    """The partitions worker `me` serves among the live `workers`, with no coordinator: each
    partition goes to the ceil(W/P) workers that rank highest for it (rendezvous hashing) among
    those not yet holding their even share (rounded up), so every partition has a worker, no
    worker serves more than that share and, with fewer partitions than workers, each partition
    is shared. Every worker computes the same answer from the same live set; two workers
    serving one partition for a moment (while they see different live sets) is safe, as leases
    and fencing keep each instance to one worker."""
    live = sorted({*workers, me})
    share = math.ceil(len(live) / count)
    capacity = math.ceil(count * share / len(live))
    load = dict.fromkeys(live, 0)
    mine = []
    for partition in range(count):
        chosen = [w for w in _ranked(partition, live) if load[w] < capacity][:share]
        for worker in chosen:
            load[worker] += 1
        if me in chosen:
            mine.append(partition)
    # more workers than partitions can serve: a worker left without one helps with its best
    return mine or [max(range(count), key=lambda p: _rank(me, p))]


def _ranked(partition: int, workers: list[str]) -> list[str]:
    return sorted(workers, key=lambda w: _rank(w, partition), reverse=True)


def _rank(worker: str, partition: int) -> int:
    digest = hashlib.blake2b(f"{worker}\n{partition}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def slot(tag: str) -> int:
    """The Redis Cluster slot of keys carrying the hash tag `{tag}`."""
    return crc_hqx(tag.encode(), 0) % SLOTS


@functools.lru_cache(maxsize=8)
def spaced_tags(count: int) -> tuple[str, ...]:
    """P hash tags, the i-th's slot in the middle half of the i-th 1/P of the slots ("p<i>-<n>",
    the first n that lands there); ("",) for one partition (no tag)."""
    if count == 1:
        return ("",)
    width = SLOTS / count
    return tuple(
        _tag_near(i, i * width + width / 4, i * width + 3 * width / 4) for i in range(count)
    )


def _tag_near(index: int, low: float, high: float) -> str:
    n = 0
    while not low <= slot(f"p{index}-{n}") <= high:
        n += 1
    return f"p{index}-{n}"


@dataclass(frozen=True)
class Layout:
    """A deployment's partitions: how many, and the hash tag of each ("" for P = 1)."""

    prefix: str
    tags: tuple[str, ...] = ("",)

    @classmethod
    def spread(cls, prefix: str, count: int) -> Layout:
        return cls(prefix, spaced_tags(count))

    @property
    def count(self) -> int:
        return len(self.tags)

    def space(self, partition: int) -> str:
        """The prefix the key functions of durable.keys take for this partition's keys."""
        return keys.partition_prefix(self.prefix, self.tags[partition])

    def partition_of(self, workflow: str, instance_id: str) -> int:
        return partition_of(workflow, instance_id, self.count)

    def space_of(self, workflow: str, instance_id: str) -> str:
        """The prefix of an instance's keys, and of the indexes and sets it is a member of."""
        return self.space(self.partition_of(workflow, instance_id))

    def spaces(self) -> list[str]:
        return [self.space(p) for p in range(self.count)]

    def fields(self) -> dict[str, str]:
        """The layout as stored in the meta hash."""
        return {"partitions": str(self.count), "tags": ",".join(self.tags)}

    @classmethod
    def from_fields(cls, prefix: str, meta: Mapping[str, str]) -> Layout:
        count, tags = int(meta.get("partitions", "1")), tuple(meta.get("tags", "").split(","))
        if len(tags) != count or (count > 1 and not all(tags)):
            raise PartitionsError(
                f"the partition layout stored at {keys.meta_key(prefix)} is damaged: {dict(meta)}"
            )
        return cls(prefix, tags)


async def open_layout(redis: Any, prefix: str, wanted: int | None, *, cluster: bool) -> Layout:
    """The layout stored in Redis, storing one first when there is none: `wanted` partitions
    (DURABLE_PARTITIONS), else 48 on a cluster and 1 on one Redis. Raises PartitionsError when
    `wanted` disagrees with what is stored or a repartition is under way."""
    meta = await read_meta(redis, prefix)
    if not meta:
        count = wanted or (CLUSTER_DEFAULT if cluster else SINGLE_NODE_DEFAULT)
        if cluster and count == 1:  # refused below; never stored
            return check(Layout(prefix), {}, wanted, cluster=cluster)
        if count > 1 and await holds_single_layout(redis, prefix):
            raise PartitionsError(
                f"Redis holds instances of prefix {prefix!r} in one partition: run "
                f"`durable admin repartition --partitions {count}` to use {count}"
            )
        fields = Layout.spread(prefix, count).fields()
        args = [part for pair in fields.items() for part in pair]
        raw = await redis.eval(_INITIALISE, 1, keys.meta_key(prefix), *args)
        meta = dict(zip(_strings(raw[::2]), _strings(raw[1::2]), strict=True))
    return check(Layout.from_fields(prefix, meta), meta, wanted, cluster=cluster)


def check(layout: Layout, meta: Mapping[str, str], wanted: int | None, *, cluster: bool) -> Layout:
    moving = meta.get("repartition_to")
    if moving:
        raise PartitionsError(
            f"a repartition of prefix {layout.prefix!r} to {moving} partitions is under way: "
            f"finish it with `durable admin repartition --partitions {moving}`"
        )
    if wanted is not None and wanted != layout.count:
        raise PartitionsError(
            f"DURABLE_PARTITIONS is {wanted} but Redis holds {layout.count} partition(s) for "
            f"prefix {layout.prefix!r}: unset it, or stop every worker and run "
            f"`durable admin repartition --partitions {wanted}`"
        )
    if cluster and layout.count == 1:
        raise PartitionsError(
            f"Redis Cluster needs several partitions but prefix {layout.prefix!r} has one: "
            f"repartition it on one Redis first (`durable admin repartition --partitions "
            f"{CLUSTER_DEFAULT}`), then import it into the cluster"
        )
    return layout


def verify_at_start(settings: Settings) -> Layout | None:
    """A service's check before it starts: the layout, stored now if none is. Raises
    PartitionsError (the service must not start); None when Redis cannot be reached (the
    check is made again on first use)."""
    return asyncio.run(_verify(settings))


async def _verify(settings: Settings) -> Layout | None:
    from durable import cluster

    try:
        async with asyncio.timeout(VERIFY_TIMEOUT_S):
            redis = await cluster.connect_any(settings.redis_url)
            try:
                in_cluster = await cluster.enabled(redis)
                wanted = settings.partitions
                return await open_layout(redis, settings.prefix, wanted, cluster=in_cluster)
            finally:
                await redis.aclose()
    except (RedisError, OSError, TimeoutError, ValueError):  # ValueError: not a Redis URL
        return None


async def read_meta(redis: Any, prefix: str) -> dict[str, str]:
    raw = await redis.hgetall(keys.meta_key(prefix))
    return {_string(k): _string(v) for k, v in raw.items()}


async def holds_single_layout(redis: Any, prefix: str) -> bool:
    """Whether keys of the one-partition layout exist: its global sets, or a workflow index
    (every instance within retention is in one)."""
    legacy = keys.partition_prefix(prefix, "")
    if await redis.exists(*(build(legacy) for build in _GLOBAL_SETS)):
        return True
    pattern = keys.workflow_index_key(legacy, "*")
    async for _ in redis.scan_iter(match=pattern, count=1000):
        return True
    return False


_GLOBAL_SETS = (keys.queue_key, keys.leases_key, keys.expiry_key)


def _string(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _strings(values: Any) -> list[str]:
    return [_string(v) for v in values]
