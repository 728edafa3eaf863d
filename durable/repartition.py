"""Changing the number of partitions, offline: `durable admin repartition --partitions N`.

Every instance's keys move to its partition under the new layout, and every index, lease,
expiry and queue entry to the same set of that partition (queue entries and arq's keys under
the new job id, the instance's pending job renamed to match). It refuses while a worker is
registered as live (durable/membership.py): nothing else may write meanwhile.

It is a fix-point, so it is safe to interrupt and run again: the meta hash says a repartition
to N is under way (every process refuses to start until it is finished), each step moves what
is not yet where the new layout wants it and leaves alone what already is, and only a complete
pass records the new layout. Transient keys of the old partitions (wake markers, take
receipts, arq's health line) are dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ResponseError

from durable import keys, membership, partitions
from durable.children import outbox_home
from durable.errors import PartitionsError
from durable.partitions import Layout

log = logging.getLogger("durable.repartition")

_INSTANCE_KINDS = frozenset(
    {"instance", "steps", "events", "logs", "event_ids", "idempotency", "children"}
)
_ID_SETS = frozenset({"workflow_index", "status_index", "version_index", "version_status_index"})
_MEMBER_SETS = frozenset({"leases", "expiry"})
_OUTBOX = "outbox"  # entries go to the partition of the instance they belong to
_ARQ_KINDS = frozenset({"arq_job", "arq_in_progress", "arq_retry"})
_TRANSIENT = frozenset({"wake", "take_receipt", "health_check"})
_JOB_FIELDS = ("job", "ajob")  # instance fields that hold a job id


@dataclass
class Moved:
    """What a pass did: keys moved, set or hash entries moved, keys dropped, keys left alone
    because they are no kind of this deployment's keys."""

    keys: int = 0
    entries: int = 0
    dropped: int = 0
    unknown: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (
            f"{self.keys} key(s) and {self.entries} index entries moved, "
            f"{self.dropped} transient key(s) dropped"
        )


async def repartition(
    redis: Any, prefix: str, count: int, *, report: Callable[[str], None] = log.info
) -> Moved:
    """Move the deployment `prefix` to `count` partitions (or finish a move to it)."""
    if count == 1 and isinstance(redis, RedisCluster):
        raise PartitionsError("a Redis Cluster needs several partitions; one is for one Redis")
    meta = await partitions.read_meta(redis, prefix)
    old = Layout.from_fields(prefix, meta) if meta else Layout(prefix)
    under_way = meta.get("repartition_to")
    if under_way and int(under_way) != count:
        raise PartitionsError(
            f"a repartition of prefix {prefix!r} to {under_way} partitions is under way: "
            f"finish it first with --partitions {under_way}"
        )
    if not under_way and old.count == count:
        report(f"prefix {prefix!r} has {count} partition(s) already: nothing to do")
        return Moved()
    live = await membership.live_workers(redis, prefix)
    if live:
        raise PartitionsError(
            f"{len(live)} worker(s) of prefix {prefix!r} are running ({', '.join(live[:3])}"
            f"{', ...' if len(live) > 3 else ''}): stop every worker first (a worker that died "
            f"leaves the list within {membership.SINGLE_PARTITION_TTL_MS // 1000} s)"
        )
    new = Layout.spread(prefix, count)
    await redis.hset(keys.meta_key(prefix), mapping={**old.fields(), "repartition_to": count})
    report(f"moving prefix {prefix!r} from {old.count} to {count} partition(s)")
    moved = await _move_all(redis, prefix, new)
    await redis.hset(keys.meta_key(prefix), mapping=new.fields())
    await redis.hdel(keys.meta_key(prefix), "repartition_to")
    report(f"done: {moved}")
    if moved.unknown:
        report(f"left alone {len(moved.unknown)} key(s) of no known kind, e.g. {moved.unknown[0]}")
    return moved


async def _move_all(redis: Any, prefix: str, new: Layout) -> Moved:
    mover = _Mover(redis, prefix, new)
    patterns = [f"{prefix}:*"] + [f"{arq}{prefix}:*" for arq in _arq_prefixes()]
    for pattern in patterns:
        async for raw in redis.scan_iter(match=pattern, count=1000):
            await mover.key(raw.decode() if isinstance(raw, bytes) else str(raw))
    return mover.moved


def _arq_prefixes() -> list[str]:
    return [keys.arq_job_key(""), keys.arq_in_progress_key(""), keys.arq_retry_key("")]


class _Mover:
    def __init__(self, redis: Any, prefix: str, new: Layout) -> None:
        self.redis = redis
        self.prefix = prefix
        self.new = new
        self.spaces = frozenset(new.spaces())
        self.moved = Moved()

    async def key(self, key: str) -> None:
        parsed = keys.parse(self.prefix, key)
        if parsed is None:
            self.moved.unknown.append(key)
            return
        space, kind, params = parsed
        if kind in _INSTANCE_KINDS:
            await self.instance_key(key, space, kind, params)
        elif kind in _ID_SETS or kind in _MEMBER_SETS or kind in ("queue", _OUTBOX):
            await self.sorted_set(key, space, kind, params)
        elif kind == "versions":
            await self.versions(key, space, params[0])
        elif kind in _ARQ_KINDS:
            wf, iid, n = params
            target = self.new.space_of(wf, iid)
            if target != space:
                build = keys.kinds(target)[kind]
                await self.rename(key, build(wf, iid, n))
        elif kind in _TRANSIENT and space not in self.spaces:
            self.moved.dropped += await self.redis.delete(key)
        # the deployment's own keys (meta, workers, bulk answers) stay where they are

    async def instance_key(self, key: str, space: str, kind: str, params: tuple[str, ...]) -> None:
        wf, iid = params[0], params[1]
        target = self.new.space_of(wf, iid)
        here = key
        if target != space:
            here = keys.kinds(target)[kind](*params)
            await self.rename(key, here)
        if kind == "instance":
            await self.job_fields(here, target)

    async def job_fields(self, ikey: str, target: str) -> None:
        """Rename the instance's pending and active job ids into its new partition."""
        values = await self.redis.hmget(ikey, *_JOB_FIELDS)
        fixed = {}
        for name, raw in zip(_JOB_FIELDS, values, strict=True):
            job = raw.decode() if isinstance(raw, bytes) else raw
            new_job = self.job_in(job, target) if job else None
            if new_job and new_job != job:
                fixed[name] = new_job
        if fixed:
            await self.redis.hset(ikey, mapping=fixed)

    def job_in(self, job: str, target: str) -> str | None:
        parsed = keys.parse(self.prefix, keys.arq_job_key(job))
        if parsed is None:
            return None
        _, _, (wf, iid, n) = parsed
        return keys.job_id(target, wf, iid, n)

    async def sorted_set(self, key: str, space: str, kind: str, params: tuple[str, ...]) -> None:
        async for raw, score in self.redis.zscan_iter(key, count=500):
            member = raw.decode() if isinstance(raw, bytes) else str(raw)
            target, new_member = self.place(kind, params, member)
            if target is None or (target == space and new_member == member):
                continue
            new_key = keys.kinds(target)[kind](*params)
            await self.redis.zadd(new_key, {new_member: score})
            await self.redis.zrem(key, member)
            self.moved.entries += 1

    def place(self, kind: str, params: tuple[str, ...], member: str) -> tuple[str | None, str]:
        """Where a set's member goes: its partition's prefix and its spelling there."""
        if kind == "queue":
            parsed = keys.parse_job_id(self.prefix, member)
            if parsed is None:
                return None, member
            target = self.new.space_of(*parsed)
            return target, self.job_in(member, target) or member
        if kind in _MEMBER_SETS:
            return self.new.space_of(*keys.split_tag(member)), member
        if kind == _OUTBOX:
            home = outbox_home(member)
            return (None, member) if home is None else (self.new.space_of(*home), member)
        return self.new.space_of(params[0], member), member

    async def versions(self, key: str, space: str, workflow: str) -> None:
        async for raw, version in self.redis.hscan_iter(key, count=500):
            iid = raw.decode() if isinstance(raw, bytes) else str(raw)
            target = self.new.space_of(workflow, iid)
            if target != space:
                await self.redis.hset(keys.versions_key(target, workflow), iid, version)
                await self.redis.hdel(key, iid)
                self.moved.entries += 1

    async def rename(self, old: str, new: str) -> None:
        """Move a key with its TTL; across cluster slots by DUMP and RESTORE."""
        if isinstance(self.redis, RedisCluster):
            dumped, ttl = await self.redis.dump(old), await self.redis.pttl(old)
            if dumped is None:
                return
            await self.redis.restore(new, max(int(ttl), 0), dumped, replace=True)
            await self.redis.delete(old)
        else:
            try:
                await self.redis.rename(old, new)
            except ResponseError:  # gone meanwhile ("no such key")
                return
        self.moved.keys += 1
