"""Gates: concurrency and rate limits across workers, in two phases that no crash can break.

Each value of a workflow's limit key has a gate in Redis (keys.gate_key: holders, a FIFO of
waiting instances, the starts of the rate window, the limits), in a cluster slot of its own:
the instances of one key value live in many partitions, so no script touches both a gate and
an instance. A worker that takes a run with no grant yet calls `admit`: the gate enqueues the
instance and grants its FIFO's heads while the limits allow (`gate_enter`); the run is then
marked granted on the instance (`gate_grant`) and runs, or goes back to `queued` with no job
and a note of what it waits behind (`gate_wait`). Whoever ends a run — the worker after
`finish`, the client after terminate or restart, bulk actions — lets it leave the gate
(`gate_leave`), which grants the next heads; each granted instance is woken with a job due now
(`gate_wake`, in its own partition). The head blocked only by the rate window gets a job at the
time the window frees, so its take asks the gate again then.

A crash between the two phases leaves a gate holding a slot of a run that ended (or a granted
instance with no job): `sweep`, which workers run every SWEEP_PERIOD_S only for the workflows
of their registry that declare limits, checks each holder and releases or wakes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Iterable

from redis.exceptions import RedisError

from durable.limits import Limits, gate_id
from durable.records import InstanceRecord
from durable.replies import Acquired, GateMarked, GateState, Tag
from durable.store import Ref, Store
from durable.types import TERMINAL_STATUSES
from durable.workflow import Workflow

log = logging.getLogger("durable.gate")

SWEEP_PERIOD_S = 5.0
# A gate found empty leaves its workflow's list once unused this long (ms): one that a worker is
# entering right then is listed again by its next entry anyway.
FORGET_AFTER_MS = 60_000
# The most rounds of waking granted instances and dropping stale ones after one gate call.
SETTLE_ROUNDS = 20


async def admit(store: Store, workflow: Workflow, ref: Ref, got: Acquired) -> bool:
    """True when the leased run may run: its gate granted it now or before. False: it is
    queued again behind its gate (or its lease was lost meanwhile)."""
    instance = InstanceRecord.decode(got.instance)
    if instance.granted_run == instance.run:
        return True
    limits = workflow.limits
    value = limits.key_value(instance.params)
    gate = gate_id(value)
    await store.note_gate(ref.workflow, gate, int(time.time() * 1000))
    state = await store.gate_enter(
        ref.workflow, gate, instance_id=ref.instance_id, run=instance.run,
        created_ms=instance.created_at_ms or 0, key_value=value, **limits.argv(),
    )  # fmt: skip
    if not state.holds:
        await _hold(store, ref, got, instance, limits, value, state)
        await settle(store, ref.workflow, gate, [state], me=ref.instance_id)
        return False
    marked = await store.gate_grant(ref, fence=got.fence, run=instance.run, key_value=value)
    states = [state]
    if not isinstance(marked, GateMarked):
        # the lease went first (terminated, restarted, recovered): the run is not marked, so it
        # asks again if it ever runs; its slot goes to the next in line now
        left = await store.gate_leave(
            ref.workflow, gate, instance_id=ref.instance_id, below=instance.run + 1
        )
        states.append(left)
    await settle(store, ref.workflow, gate, states, me=ref.instance_id)
    return isinstance(marked, GateMarked)


async def _hold(
    store: Store,
    ref: Ref,
    got: Acquired,
    instance: InstanceRecord,
    limits: Limits,
    value: str,
    state: GateState,
) -> None:
    """Queue a run its gate did not grant again: no job, or (the head behind the rate window)
    a job at the time the window frees."""
    head = state.head == ref.instance_id and state.blocked == "rateLimit"
    note = {"limit": state.blocked or "concurrency", "key": limits.key, "value": json.loads(value)}
    note["run"] = instance.run
    await store.gate_wait(
        ref, fence=got.fence, run=instance.run, key_value=value,
        note=json.dumps(note, separators=(",", ":")), due_ms=state.free_at_ms if head else 0,
    )  # fmt: skip


async def settle(
    store: Store, workflow: str, gate: str, states: list[GateState], me: str = ""
) -> None:
    """Wake what gate calls granted (but `me`, which its caller runs) and the head behind the
    rate window; an instance found stale leaves the gate, which may grant more."""
    for _ in range(SETTLE_ROUNDS):
        stale: list[tuple[str, int]] = []
        for state in states:
            stale += await _wake(store, workflow, state, me)
        if not stale:
            return
        states = [
            await store.gate_leave(workflow, gate, instance_id=iid, below=run + 1)
            for iid, run in dict(stale).items()
        ]


async def _wake(store: Store, workflow: str, state: GateState, me: str) -> list[tuple[str, int]]:
    """Wake one gate call's grants and blocked head; returns those found stale."""
    wakes = [(iid, run, 0) for iid, run in state.granted if iid != me]
    if state.blocked == "rateLimit" and state.head != me:
        wakes.append((state.head, state.head_run, state.free_at_ms))
    stale = []
    for iid, run, due in wakes:
        woken = await store.gate_wake(Ref(workflow, iid), run=run, due_ms=due)
        if woken.status == Tag.STALE:
            stale.append((iid, run))
    return stale


async def leave(store: Store, workflow: Workflow, ref: Ref, params: object, run: int) -> None:
    """A run that ended (the worker's finish) leaves its gate. A failure is left to the sweep."""
    gate = gate_id(workflow.limits.key_value(params))
    try:
        state = await store.gate_leave(
            ref.workflow, gate, instance_id=ref.instance_id, below=run + 1
        )
        await settle(store, ref.workflow, gate, [state])
    except (RedisError, OSError) as exc:
        log.warning("could not release the gate of %s/%s: %s", ref.workflow, ref.instance_id, exc)


async def reconcile(store: Store, ref: Ref) -> None:
    """After a terminate or restart: the instance's ended runs leave the gate it met, if any."""
    value, status, run = await store.gate_of(ref)
    if value is None:
        return
    below = run + 1 if status is None or status in TERMINAL_STATUSES else run
    gate = gate_id(value)
    state = await store.gate_leave(ref.workflow, gate, instance_id=ref.instance_id, below=below)
    await settle(store, ref.workflow, gate, [state])


async def reconcile_many(store: Store, refs: Iterable[Ref]) -> None:
    for ref in refs:
        await reconcile(store, ref)


# -- the sweep -----------------------------------------------------------------------------------


def limited(workflows: Iterable[Workflow]) -> list[str]:
    """The names of the workflows that declare limits (those the sweep looks after)."""
    return [wf.name for wf in workflows if wf.limits.declared]


async def sweep(store: Store, workflows: list[str]) -> None:
    """Check every gate of these workflows once: release holders whose run ended (or whose
    instance is gone), wake granted ones left without a job, grant what the limits allow."""
    for workflow in workflows:
        for gate, used_ms in (await store.gates(workflow)).items():
            await sweep_gate(store, workflow, gate, used_ms)


async def sweep_gate(store: Store, workflow: str, gate: str, used_ms: int) -> None:
    holders = await store.gate_holders(workflow, gate)
    refs = [(Ref(workflow, iid), run) for iid, run in holders.items()]
    woken = await store.gate_wake_many(refs) if refs else []
    states = [
        await store.gate_leave(workflow, gate, instance_id=ref.instance_id, below=run + 1)
        for (ref, run), found in zip(refs, woken, strict=True)
        if found.status == Tag.STALE
    ]
    states.append(await store.gate_leave(workflow, gate))
    await settle(store, workflow, gate, states)
    if states[-1].empty and used_ms < time.time() * 1000 - FORGET_AFTER_MS:
        await store.forget_gate(workflow, gate)


def start_sweep(store: Store, workflows: Iterable[Workflow]) -> asyncio.Task[None] | None:
    """A worker's sweep of the gates of its workflows with limits, or None when none declares
    any: a deployment without limits pays nothing."""
    names = limited(workflows)
    return asyncio.ensure_future(sweep_forever(store, names)) if names else None


async def sweep_forever(store: Store, workflows: list[str]) -> None:
    """Sweep every SWEEP_PERIOD_S until cancelled."""
    while True:
        await asyncio.sleep(SWEEP_PERIOD_S)
        with contextlib.suppress(RedisError, OSError):
            await sweep(store, workflows)
