"""Listing a workflow's instances, newest first, and counting them by status and the queue.

Both read the per-workflow indexes of durable.keys (sorted sets of instance ids scored by
creation ms), one set per partition. Pages use keyset pagination on (score, id), so ties never
repeat or skip an instance, and a cursor is the last (score, id) a page returned: the same
opaque cursor whatever the number of partitions, as a page merges the partitions' indexes
(each read from the cursor on, newest first, in one pipelined round trip). Counts sum over the
partitions.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from durable import keys, records, validation, views
from durable.errors import ValidationError
from durable.models import InstancePage, ListedInstance
from durable.names import VERSION_MAX, valid_name
from durable.records import InstanceRecord
from durable.store import Store
from durable.types import Status

Row = tuple[str, int, dict[str, str]]  # instance id, index score, instance fields


@dataclass(frozen=True)
class Query:
    """A validated list request: `status` None lists every status; `pausing` lists running
    instances whose pause is requested (status=waitingForPause)."""

    workflow: str
    status: str | None
    version: str | None
    size: int
    after: dict[str, Any] | None
    pausing: bool = False

    def index(self, prefix: str) -> str:
        """The index this query reads in the partition whose keys start with `prefix`."""
        if self.status is None:
            return keys.workflow_index_key(prefix, self.workflow, self.version)
        status = Status.RUNNING if self.pausing else self.status
        return keys.status_index_key(prefix, self.workflow, status, self.version)


def query(workflow: str, status: Any, version: Any, page_size: Any, cursor: Any) -> Query:
    """Validate a list request's arguments (ValidationError, InvalidCursorError)."""
    wanted = validation.status(status)
    pausing = wanted == validation.WAITING_FOR_PAUSE
    size = validation.page_size(page_size)
    after = validation.decode_cursor(cursor, ("s", "i"), param="cursor")
    return Query(workflow, wanted, _version(version), size, after, pausing)


def _version(value: Any) -> str | None:
    """A `version` filter: a version name as `@workflow(version=...)` takes."""
    if value is None:
        return None
    if valid_name(value, VERSION_MAX):
        return str(value)
    raise ValidationError(
        f"invalid version {str(value)[:40]!r}: 1-{VERSION_MAX} characters of letters, digits "
        "and _ . : - (not starting with . : -)",
        [{"path": "version", "message": "invalid version"}],
    )


async def page(store: Store, q: Query) -> InstancePage:
    """One page of instances; its cursor fields are set only when more instances follow."""
    rows, more = await _rows(store, q)
    listed = [_listed(iid, inst) for iid, _, inst in rows]
    if not more:
        return InstancePage(instances=listed, has_next_page=False)
    iid, score, _ = rows[-1]
    next_cursor = validation.encode_cursor({"s": score, "i": iid})
    return InstancePage(
        instances=listed, cursor=next_cursor, next_cursor=next_cursor, has_next_page=True
    )


@dataclass
class _Stream:
    """One partition's index, read newest first from the cursor on, a batch at a time."""

    index: str
    offset: int = 0
    done: bool = False
    buffer: deque[tuple[str, int]] = field(default_factory=deque)

    @property
    def waiting(self) -> bool:
        """Read to the end of its batch, with more to read."""
        return not self.buffer and not self.done


async def _rows(store: Store, q: Query) -> tuple[list[Row], bool]:
    """Up to q.size rows and whether more follow. Ids whose instance expired meanwhile (and,
    when pausing, instances without a pending pause) are skipped, so a page is full whenever
    more instances follow."""
    layout = await store.open()
    streams = [_Stream(q.index(space)) for space in layout.spaces()]
    out: list[Row] = []
    while len(out) <= q.size and any(s.buffer or not s.done for s in streams):
        await _refill(store, streams, q)
        ids = _merge(streams, q.size + 1 - len(out))
        found = await _instances(store, q.workflow, [iid for iid, _ in ids])
        out += [
            (iid, score, inst)
            for (iid, score), inst in zip(ids, found, strict=True)
            if inst and (not q.pausing or _pause_pending(inst))
        ]
    return out[: q.size], len(out) > q.size


async def _refill(store: Store, streams: list[_Stream], q: Query) -> None:
    """Read the next batch of every stream that ran out, in one round trip."""
    empty = [s for s in streams if s.waiting]
    if not empty:
        return
    top: Any = "+inf" if q.after is None else int(q.after["s"])
    async with store.redis.pipeline(transaction=False) as pipe:
        for stream in empty:
            pipe.zrevrangebyscore(
                stream.index, top, "-inf", start=stream.offset, num=q.size + 1, withscores=True
            )
        batches = await pipe.execute()
    for stream, batch in zip(empty, batches, strict=True):
        stream.offset += len(batch)
        stream.done = len(batch) <= q.size  # the index has nothing after this batch
        stream.buffer.extend(_after([(_s(member), int(score)) for member, score in batch], q.after))


def _merge(streams: list[_Stream], limit: int) -> list[tuple[str, int]]:
    """Up to `limit` ids, newest first (ties: the greater id first, as in one index), taken
    while every stream that may hold a newer one has one at hand."""
    out: list[tuple[str, int]] = []
    while len(out) < limit and not any(s.waiting for s in streams):
        ready = [s for s in streams if s.buffer]
        if not ready:
            break
        best = max(ready, key=lambda s: (s.buffer[0][1], s.buffer[0][0]))
        out.append(best.buffer.popleft())
    return out


def _after(ids: list[tuple[str, int]], after: dict[str, Any] | None) -> list[tuple[str, int]]:
    """Drop the ids at or before the cursor among those sharing its score."""
    if after is None:
        return ids
    score, iid = int(after["s"]), str(after["i"])
    return [(i, s) for i, s in ids if s != score or i < iid]


async def _instances(store: Store, workflow: str, ids: list[str]) -> list[dict[str, str]]:
    if not ids:
        return []
    async with store.redis.pipeline(transaction=False) as pipe:
        for iid in ids:
            space = store.layout.space_of(workflow, iid)
            pipe.hgetall(keys.instance_key(space, workflow, iid))
        found = await pipe.execute()
    return [{_s(k): _s(v) for k, v in row.items()} for row in found]


def _listed(instance_id: str, fields: dict[str, str]) -> ListedInstance:
    inst = InstanceRecord.decode(fields)
    return ListedInstance.model_validate(
        {
            "id": instance_id,
            "details": views.details(inst),
            "params": inst.params,
            "createdAt": records.iso(inst.created_at_ms),
            "updatedAt": records.iso(inst.updated_at_ms),
        }
    )


def _pause_pending(fields: dict[str, str]) -> bool:
    inst = InstanceRecord.decode(fields)
    return inst.status == Status.RUNNING and inst.pause_requested


async def counts(store: Store, workflow: str) -> dict[str, int]:
    """How many instances of `workflow` are in each status (every status is a key)."""
    return (await counts_by_workflow(store, [workflow]))[workflow]


async def counts_by_workflow(store: Store, workflows: Sequence[str]) -> dict[str, dict[str, int]]:
    """How many instances of each workflow are in each status, summed over the partitions'
    status indexes, read in one round trip."""
    layout = await store.open()
    statuses = list(Status)
    wanted = [(wf, status) for wf in workflows for status in statuses]
    async with store.redis.pipeline(transaction=False) as pipe:
        for space in layout.spaces():
            for wf, status in wanted:
                pipe.zcard(keys.status_index_key(space, wf, status))
        sizes = await pipe.execute()
    out = {wf: dict.fromkeys((s.value for s in statuses), 0) for wf in workflows}
    for i, size in enumerate(sizes):
        wf, status = wanted[i % len(wanted)]
        out[wf][status.value] += int(size)
    return out


async def queue_depth(store: Store, now_ms: int | None = None) -> tuple[int, int]:
    """How many jobs (wake-ups) are due by `now_ms` (default: this machine's clock) and how
    many later, summed over the partitions' queues in one round trip."""
    layout = await store.open()
    now = int(time.time() * 1000) if now_ms is None else now_ms
    async with store.redis.pipeline(transaction=False) as pipe:
        for space in layout.spaces():
            pipe.zcount(keys.queue_key(space), "-inf", now)
            pipe.zcount(keys.queue_key(space), f"({now}", "+inf")
        sizes = [int(n) for n in await pipe.execute()]
    return sum(sizes[0::2]), sum(sizes[1::2])


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
