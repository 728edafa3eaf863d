"""Child workflows across partitions: the default id of a child, and carrying the outbox.

A parent and its child usually live in different partitions (different cluster slots), so no
script touches both. What one owes the other is an entry of the outbox of its own partition
(keys.outbox_key), written by the script that made the transition (_children.lua):
- `done`: a child that a step.invoke awaits ended (finish, terminate): its outcome goes to the
  parent's waiting step (the child_done script), which wakes the parent;
- `stop`: terminating or restarting a parent, or an invoke's timeout, terminates a child.
The code that ran the script carries its entries over at once (`carry`) and then removes them:
the worker after finish, the Client and bulk control after terminate and restart, the engine
after a timeout. Entries a crash left behind come due a lease TTL later; a take (or the reap of
a runner tick or a plain arq worker) hands them to its caller, which carries them over the
same way. Carrying is idempotent (child_done keeps the first outcome per step; terminating a
terminated instance does nothing), so an entry carried twice does no harm.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from redis.exceptions import RedisError

from durable.errors import ChildWorkflowError
from durable.keys import split_tag
from durable.names import ID_MAX, valid_name
from durable.records import InstanceRecord, StepError, dumps
from durable.replies import Controlled, Restarted, Snapshot
from durable.store import Ref, Store
from durable.types import Status

log = logging.getLogger("durable.children")

HASH_CHARS = 12


def default_child_id(parent: Ref, run: int, step_key: str) -> str:
    """`<parent id>:<run>:<step key>:<hash>` (the hash: the first 12 hex digits of the SHA-256
    of the parent's workflow, id, run and step key, so parents of different workflows never
    share a child); `child:<40 hex digits>` when that is no valid instance id (too long, or a
    step key with characters ids do not allow)."""
    digest = hashlib.sha256(dumps([parent.workflow, parent.instance_id, run, step_key]).encode())
    readable = f"{parent.instance_id}:{run}:{step_key}:{digest.hexdigest()[:HASH_CHARS]}"
    if valid_name(readable, ID_MAX):
        return readable
    return f"child:{digest.hexdigest()[:40]}"


@dataclass(frozen=True)
class Entry:
    """An outbox entry: `kind` done (child ended: tell its parent) or stop (terminate the
    child); `home`, the instance whose partition holds the entry."""

    kind: str
    child: Ref
    run: int
    home: Ref


def parse(text: str) -> Entry | None:
    try:
        fields = json.loads(text)
        child = Ref(str(fields["w"]), str(fields["i"]))
        if fields["k"] == "done":
            return Entry("done", child, int(fields["r"]), child)
        if fields["k"] == "stop":
            return Entry("stop", child, 0, Ref(*split_tag(str(fields["by"]))))
    except (ValueError, KeyError, TypeError):
        pass
    return None


def outbox_home(text: str) -> tuple[str, str] | None:
    """The instance (workflow, id) whose partition an outbox entry belongs in."""
    entry = parse(text)
    return None if entry is None else (entry.home.workflow, entry.home.instance_id)


async def carry(store: Store, entries: Iterable[str], known: InstanceRecord | None = None) -> None:
    """Carry outbox entries over and remove them; `known`, the ended instance when the caller
    has it (saves reading it). Redis failing here is logged: the entries stay in the outbox
    and are swept later."""
    for text in entries:
        entry = parse(text)
        if entry is None:
            log.error("unreadable outbox entry left alone: %r", text)
            continue
        try:
            await _carry(store, entry, known)
            await store.clear_outbox(entry.home, text)
        except (RedisError, OSError) as exc:
            log.warning("outbox entry %s left for the sweep: %s", text, exc)


async def _carry(store: Store, entry: Entry, known: InstanceRecord | None) -> None:
    if entry.kind == "stop":
        await stop(store, entry.child, entry.home)
        return
    child = known
    if child is None or (child.workflow, child.instance_id) != (
        entry.child.workflow,
        entry.child.instance_id,
    ):
        snap = await store.read(entry.child)
        child = InstanceRecord.decode(snap.instance) if isinstance(snap, Snapshot) else None
    if child is None or child.run != entry.run:
        return  # gone, or restarted since: this outcome is no longer the child's
    await deliver(store, child)


async def deliver(store: Store, child: InstanceRecord) -> bool:
    """Leave an ended child's outcome with the parent step that awaits it (and wake the
    parent); False when nobody waits for it any more."""
    parent = child.parent
    found = outcome(child)
    if parent is None or found is None:
        return False
    status, tail = found
    return await store.child_done(
        Ref(parent.workflow, parent.instance_id), run=parent.run, key=parent.step_key,
        child=f"{child.workflow}/{child.instance_id}", outcome=status, tail=tail,
    )  # fmt: skip


Outcome = Literal["completed", "errored"]


def outcome(child: InstanceRecord) -> tuple[Outcome, str] | None:
    """An ended child's outcome as the parent's invoke step records it: ("completed", the
    result) or ("errored", a ChildWorkflowError); None while it has not ended."""
    if child.status == Status.COMPLETE:
        return "completed", ',"r":' + (child.output_json or "null")
    if child.status == Status.ERRORED:
        error = child.error or {}
        name, message = str(error.get("name", "Error")), str(error.get("message", ""))
    elif child.status == Status.TERMINATED:
        name, message = ChildWorkflowError.TERMINATED, "the child workflow was terminated"
    else:
        return None
    return "errored", ',"e":' + dumps(child_error(child.workflow, child.instance_id, name, message))


def child_error(workflow: str, instance_id: str, name: str, message: str) -> dict[str, object]:
    """The error record of an invoke step whose child did not complete."""
    exc = ChildWorkflowError(workflow, instance_id, name, message)
    return StepError(exc.name, exc.message, child=StepError(name, message)).to_json()


async def stop(store: Store, child: Ref, parent: Ref) -> None:
    """Terminate a child of `parent` (nothing happens when it ended already), then carry over
    what that owes: its outcome and its own children."""
    member = f"{parent.workflow}/{parent.instance_id}"
    stopped = await store.terminate(child, token=f"cascade:{member}", answer_ttl_ms=0)
    if isinstance(stopped, Controlled):
        await carry(store, stopped.outbox)


async def after_control(store: Store, reply: object) -> None:
    """Carry over what a terminate or restart owes other partitions."""
    if isinstance(reply, Controlled | Restarted) and reply.outbox:
        await carry(store, reply.outbox)
