"""Listing a workflow's instances, newest first, and counting them by status.

Both read the per-workflow indexes of durable.keys (sorted sets of instance ids scored by
creation ms). Pages use keyset pagination on (score, id), so ties never repeat or skip an
instance, and a cursor is the last (score, id) a page returned.
"""

from __future__ import annotations

from dataclasses import dataclass
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


async def _rows(store: Store, q: Query) -> tuple[list[Row], bool]:
    """Up to q.size rows and whether more follow. Ids whose instance expired meanwhile (and,
    when pausing, instances without a pending pause) are skipped, so a page is full whenever
    more instances follow."""
    index = q.index(store.settings.prefix)
    top: Any = "+inf" if q.after is None else int(q.after["s"])
    out: list[Row] = []
    offset = 0
    while len(out) <= q.size:
        batch = await store.redis.zrevrangebyscore(
            index, top, "-inf", start=offset, num=q.size + 1, withscores=True
        )
        offset += len(batch)
        ids = _after([(_s(member), int(score)) for member, score in batch], q.after)
        found = await _instances(store, q.workflow, [iid for iid, _ in ids])
        out += [
            (iid, score, inst)
            for (iid, score), inst in zip(ids, found, strict=True)
            if inst and (not q.pausing or _pause_pending(inst))
        ]
        if len(batch) <= q.size:  # the index has nothing after this batch
            break
    return out[: q.size], len(out) > q.size


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
            pipe.hgetall(keys.instance_key(store.settings.prefix, workflow, iid))
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
    """How many instances of `workflow` are in each status (every status is a key), read from
    the status indexes in one round trip."""
    statuses = list(Status)
    async with store.redis.pipeline(transaction=False) as pipe:
        for status in statuses:
            pipe.zcard(keys.status_index_key(store.settings.prefix, workflow, status))
        sizes = await pipe.execute()
    return {status.value: int(size) for status, size in zip(statuses, sizes, strict=True)}


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
