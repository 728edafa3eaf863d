"""Bulk control: terminate, restart or retry the failed step of many instances of a workflow,
selected by status and/or by id.

The selection is read a page at a time (a status listing, or the given ids in pages): each page
costs one pipelined read of its instances and one pipeline of control scripts. An instance
counts as *matched* when it exists (and is in the status asked for, when one is), *changed*
when the action took effect, *skipped* otherwise (matched - changed). Running the same action
again changes nothing more: ended instances are not terminated again, retried ones are no
longer errored, restarted ones left the status they were selected by (a restart selected by
ids only starts new runs again: send an Idempotency-Key to make a retried call act once). With
an Idempotency-Key a repeated call answers the first call's counts.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, get_args

from durable import children, gate, keys, listing, replies, retry_step, validation
from durable.errors import ClientError, ValidationError
from durable.models import BulkResult
from durable.records import InstanceRecord
from durable.replies import Controlled, Recalled, Reopened, Restarted, Snapshot
from durable.store import Ref

if TYPE_CHECKING:
    from durable.client import Client

Action = Literal["terminate", "restart", "retry-step"]
ACTIONS: tuple[str, ...] = get_args(Action)
PAGE = 100
MAX_IDS = 1000
ANSWER_TTL_MS = 24 * 60 * 60 * 1000


@dataclass(frozen=True)
class Selection:
    workflow: str
    status: str | None
    ids: tuple[str, ...] | None


def select(client: Client, workflow: str, status: Any, ids: Any) -> Selection:
    wf = client._workflow(workflow).name
    wanted = validation.status(status)
    if wanted == validation.WAITING_FOR_PAUSE:
        raise ValidationError(
            "bulk actions select by one of the seven statuses",
            [{"path": "status", "message": "waitingForPause lists, it does not select"}],
        )
    if ids is not None:
        if not isinstance(ids, list | tuple) or len(ids) > MAX_IDS:
            raise ValidationError(
                f"ids must be a list of at most {MAX_IDS} instance ids",
                [{"path": "ids", "message": f"a list of at most {MAX_IDS} ids"}],
            )
        ids = tuple(dict.fromkeys(validation.instance_id(i) for i in ids))
    if wanted is None and ids is None:
        raise ValidationError(
            "select instances by status, by ids, or both",
            [{"path": "status", "message": "give status and/or ids"}],
        )
    return Selection(wf, wanted, ids)


async def run(
    client: Client,
    workflow: str,
    action: str,
    *,
    status: str | None = None,
    ids: list[str] | None = None,
    delay_ms: int = 0,
    idempotency_key: str | None = None,
) -> BulkResult:
    if action not in ACTIONS:
        raise ValidationError(f"unknown bulk action {action!r}: one of {', '.join(ACTIONS)}")
    selection = select(client, workflow, status, ids)
    if isinstance(delay_ms, bool) or not isinstance(delay_ms, int) or delay_ms < 0:
        raise ValidationError(
            "delayMs must be a non-negative integer of milliseconds",
            [{"path": "delayMs", "message": "a non-negative integer"}],
        )
    key = validation.idempotency_key(idempotency_key)
    answer = _answer_key(client, selection.workflow, action, key)
    if answer and (saved := await client.redis.get(answer)):
        return BulkResult.model_validate(json.loads(saved))
    counts = [0, 0]
    async for page in _pages(client, selection):
        matched, changed = await Page(client, action, delay_ms, key or "").act(page, selection)
        counts[0] += matched
        counts[1] += changed
    result = BulkResult(matched=counts[0], changed=counts[1], skipped=counts[0] - counts[1])
    if answer:
        await client.redis.set(answer, json.dumps(result.model_dump()), px=ANSWER_TTL_MS)
    return result


def _answer_key(client: Client, workflow: str, action: str, key: str | None) -> str:
    if key is None:
        return ""
    return keys.bulk_answer_key(client.settings.prefix, workflow, action, key)


async def _pages(client: Client, selection: Selection) -> AsyncIterator[list[str]]:
    """The selected ids a page at a time."""
    if selection.ids is not None:
        for start in range(0, len(selection.ids), PAGE):
            yield list(selection.ids[start : start + PAGE])
        return
    cursor: str | None = None
    while True:
        q = listing.query(selection.workflow, selection.status, None, PAGE, cursor)
        page = await listing.page(client.store, q)
        if page.instances:
            yield [item.id for item in page.instances]
        cursor = page.next_cursor
        if cursor is None:
            return


class Page:
    """One page of a bulk action: read the instances, act on those that match."""

    def __init__(self, client: Client, action: str, delay_ms: int, key: str) -> None:
        self.store = client.store
        self.action = action
        self.delay_ms = delay_ms
        self.key = f"bulk-{key}" if key else ""

    async def act(self, ids: list[str], selection: Selection) -> tuple[int, int]:
        refs = [Ref(selection.workflow, iid) for iid in ids]
        reads = await self.store.run_many("read", [(ref, {}) for ref in refs])
        matched: list[tuple[Ref, Snapshot]] = []
        for ref, raw in zip(refs, reads, strict=True):
            snap = replies.read(raw)
            if not isinstance(snap, Snapshot):
                continue
            if selection.status is None or snap.instance.get("status") == selection.status:
                matched.append((ref, snap))
        if not matched:
            return 0, 0
        if self.action == "retry-step":
            return len(matched), await self._retry(matched)
        done = await self._control([ref for ref, _ in matched])
        # the runs ended leave the gates of workflows with limits (durable/gate.py)
        await gate.reconcile_many(
            self.store, [ref for ref, snap in matched if "gate" in snap.instance]
        )
        return len(matched), done

    async def _control(self, refs: list[Ref]) -> int:
        op: Literal["terminate", "restart"] = (
            "terminate" if self.action == "terminate" else "restart"
        )
        # a fresh token: a repeated bulk call is a new call (only its Idempotency-Key, if any,
        # makes it answer like the first)
        argv = {"token": f"bulk_{uuid.uuid4().hex}", "answer_ttl_ms": ANSWER_TTL_MS}
        raws = await self.store.run_many(
            op, [(ref, argv) for ref in refs], answer_op=op, idempotency_key=self.key
        )
        done = [
            replies.restart(raw) if op == "restart" else replies.control(op, raw) for raw in raws
        ]
        for reply in done:  # children to stop, parents to tell (durable/children.py)
            await children.after_control(self.store, reply)
        return sum(isinstance(reply, Restarted | Controlled) for reply in done)

    async def _retry(self, matched: list[tuple[Ref, Snapshot]]) -> int:
        calls: list[tuple[Ref, dict[str, Any]]] = []
        for ref, snap in matched:
            inst = InstanceRecord.decode(snap.instance)
            try:
                plan = retry_step.plan(ref, inst, snap.current_step, self.delay_ms)
            except ClientError:  # not errored, or its failure cannot be retried
                continue
            argv = {
                "key": plan.step_key, "expected": plan.expected, "head": plan.head,
                "delay_ms": self.delay_ms, "answer_ttl_ms": ANSWER_TTL_MS,
                "answer": plan.answer_head,
            }  # fmt: skip
            calls.append((ref, argv))
        if not calls:
            return 0
        raws = await self.store.run_many(
            "retry_step", calls, answer_op="retry-step", idempotency_key=self.key
        )
        return sum(isinstance(replies.retry_step(raw), Reopened | Recalled) for raw in raws)


__all__ = ["ACTIONS", "Action", "run"]
