"""Invariants checked after a fault run (the control race test and the soak share them).

A driver records what it was told (acknowledged restarts and terminates, acknowledged and refused
event ids) in an `Expect` per instance; `check_instance` compares that with what Redis holds and
returns a list of readable problems (empty when all is well).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis

from durable import keys
from durable.client import Client
from durable.models import Instance
from tests.helpers import layout_of, reply
from tests.reliability.flows import counter_key

TERMINAL = frozenset({"complete", "errored", "terminated"})
FAIL_ATTEMPTS = 3  # rel-fail's step gives up (NonRetryableError) at its third attempt
# One atomic look at an instance's scheduling state: status, pending job, whether that job is
# in the queue, lease expiry, and Redis time.
SNAPSHOT = """
local out = {}
for i = 2, #KEYS do
  local st = redis.call('HGET', KEYS[i], 'status') or ''
  local job = redis.call('HGET', KEYS[i], 'job') or ''
  local queued = 0
  if job ~= '' and redis.call('ZSCORE', KEYS[1], job) then queued = 1 end
  out[i - 1] = {st, job, queued, redis.call('HGET', KEYS[i], 'lease') or '0'}
end
local t = redis.call('TIME')
return {out, tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)}
"""


@dataclass
class Expect:
    """What a driver knows about one instance from the answers it got."""

    workflow: str
    instance_id: str
    final: str = "complete"  # the status it must end in unless terminated
    restarts: int = 0  # acknowledged restarts
    terminated: bool = False  # the last acknowledged terminate/restart was a terminate
    acked: dict[str, Any] = field(default_factory=dict)  # event id -> payload first accepted
    refused: set[str] = field(default_factory=set)  # event ids answered INSTANCE_TERMINAL
    unsure: set[str] = field(default_factory=set)  # event ids whose send failed in transit
    frozen: dict[int, Any] = field(default_factory=dict)  # run -> history read after terminate
    retried: Counter[int] = field(default_factory=Counter)  # run -> acknowledged step retries

    @property
    def member(self) -> str:
        return keys.tag(self.workflow, self.instance_id)

    @property
    def expected_status(self) -> str:
        return "terminated" if self.terminated else self.final


async def read_run(client: Client, wf: str, iid: str, run: int) -> tuple[list[Any], list[Any]]:
    """Every step and event of one run, oldest first, across all pages."""
    found: dict[str, list[Any]] = {"steps": [], "events": []}
    for section in found:
        cursor: str | None = None
        while True:
            arg: dict[str, Any] = {f"{section}_cursor": cursor} if cursor else {}
            page = await client.history(wf, iid, run_number=run, page_size=100, order="asc", **arg)
            found[section].extend(getattr(page, section))
            cursor = getattr(page, f"{section}_cursor")
            if not cursor:
                break
    return found["steps"], found["events"]


def frozen_view(steps: list[Any], events: list[Any]) -> Any:
    """What must not change in a run once it was terminated or replaced."""
    return (
        sorted((s.step_key, s.status, json.dumps(s.result), s.attempts) for s in steps),
        [(e.id, e.consumed_by_step_key) for e in events],
    )


def check_steps(steps: list[Any]) -> list[str]:
    """Each key once, each order slot once; each result follows the one before it."""
    problems = []
    order = [s.step_key for s in steps]
    if len(set(order)) != len(order):
        problems.append(f"a step key appears twice: {order}")
    prev: int | None = None
    for s in steps:
        if s.type != "do" or s.status != "completed":
            continue
        result = s.result
        if not isinstance(result, dict) or result.get("prev") != prev:
            problems.append(f"step {s.step_key} result {result} does not follow n={prev}")
        prev = result.get("n") if isinstance(result, dict) else None
    return problems


async def check_counts(redis: Redis, prefix: str, wf: str, iid: str, run: int, steps: Any) -> Any:
    """A recorded result came from a real execution: 1 <= n <= executions counted."""
    problems = []
    for s in steps:
        if s.type == "do" and s.status == "completed" and isinstance(s.result, dict):
            key = counter_key(prefix, f"{wf}/{iid}/{run}/{s.step_key}")
            ran = int(await redis.get(key) or 0)
            if not 1 <= int(s.result.get("n") or 0) <= ran:
                problems.append(f"step {s.step_key} result {s.result} but {ran} executions")
    return problems


def check_consumption(steps: list[Any], events: list[Any]) -> list[str]:
    """Waits take `go` events oldest first, one each; a consumed event matches its step."""
    problems = []
    by_key = {s.step_key: s for s in steps}
    go = [e for e in events if e.type == "go"]
    consumed = [e for e in go if e.consumed_by_step_key]
    if go[: len(consumed)] != consumed:
        problems.append("go events were not consumed oldest first")
    waits = [s for s in steps if s.type == "waitForEvent" and s.status == "completed"]
    if len(waits) != len(consumed):
        problems.append(f"{len(waits)} completed waits but {len(consumed)} consumed events")
    for i, event in enumerate(consumed):
        key = "go" if i == 0 else f"go#{i}"
        step = by_key.get(event.consumed_by_step_key)
        if event.consumed_by_step_key != key or step is None:
            problems.append(f"event {event.id} consumed by {event.consumed_by_step_key}")
        elif step.result is None or step.result["payload"] != event.payload:
            problems.append(f"step {key} holds {step.result}, not event {event.id}")
    if any(e.consumed_by_step_key for e in events if e.type != "go"):
        problems.append("an event of another type was consumed")
    return problems


def check_events(expect: Expect, stored: list[Any]) -> list[str]:
    """Acknowledged ids stored exactly once with their first payload; refused ones never."""
    problems = []
    counts = Counter(e.id for e in stored)
    payloads = {e.id: e.payload for e in stored}
    for eid, payload in expect.acked.items():
        if counts[eid] != 1:
            problems.append(f"acknowledged event {eid} stored {counts[eid]} times")
        elif payloads[eid] != payload:
            problems.append(f"event {eid} holds {payloads[eid]!r}, first sent {payload!r}")
    for eid in expect.refused:
        if counts[eid]:
            problems.append(f"refused event {eid} was stored")
    unknown = set(counts) - set(expect.acked) - expect.refused - expect.unsure
    if unknown:
        problems.append(f"events nobody sent: {sorted(unknown)[:5]}")
    return problems


def check_retries(expect: Expect, got: Instance, steps: list[Any]) -> list[str]:
    """rel-fail gives up at attempt 3; each acknowledged retry-failed-step adds one attempt."""
    run = got.details.run_number
    if expect.workflow != "rel-fail" or got.details.status != "errored":
        return []
    attempts = {s.step_key: s.attempts for s in steps}.get("broken")
    want = FAIL_ATTEMPTS + expect.retried[run]
    return [] if attempts == want else [f"broken ran {attempts} attempts, expected {want}"]


def check_output(got: Instance, steps: list[Any], wf: str) -> list[str]:
    """A complete chain's output is made of the recorded results of its last run."""
    if wf != "rel-chain" or got.details.status != "complete":
        return []
    by_key = {s.step_key: s.result for s in steps}
    waits = [s.result["payload"] for s in steps if s.type == "waitForEvent"]
    want = {"a": by_key.get("a"), "b": by_key.get("b"), "c": by_key.get("c"), "events": waits}
    output = got.details.output
    return [] if output == want else [f"output {output} is not the recorded {want}"]


async def check_instance(client: Client, redis: Redis, expect: Expect) -> list[str]:
    wf, iid, prefix = expect.workflow, expect.instance_id, client.settings.prefix
    got = await client.get(wf, iid)
    status, run = got.details.status, got.details.run_number
    problems = []
    if status != expect.expected_status:
        problems.append(f"status {status}, expected {expect.expected_status}")
    if run != expect.restarts:
        problems.append(f"run {run}, expected {expect.restarts} (acknowledged restarts)")
    stored: list[Any] = []
    for r in range(run + 1):
        steps, events = await read_run(client, wf, iid, r)
        stored.extend(events)
        problems += check_steps(steps) + check_consumption(steps, events)
        problems += await check_counts(redis, prefix, wf, iid, r, steps)
        if r in expect.frozen and frozen_view(steps, events) != expect.frozen[r]:
            problems.append(f"run {r} changed after it was terminated")
        if r == run:
            problems += check_output(got, steps, wf) + check_retries(expect, got, steps)
    problems += check_events(expect, stored)
    return [f"{wf}/{iid}: {p}" for p in problems]


async def schedule_state(redis: Redis, prefix: str, expects: list[Expect]) -> dict[str, Any]:
    """member -> (status, job, job queued?, lease ms, Redis time), read at once per partition."""
    layout = await layout_of(redis, prefix)
    by_space: dict[str, list[Expect]] = {}
    for e in expects:
        by_space.setdefault(layout.space_of(e.workflow, e.instance_id), []).append(e)
    state: dict[str, Any] = {}
    for space, group in by_space.items():
        names = [keys.instance_key(space, e.workflow, e.instance_id) for e in group]
        queue = keys.queue_key(space)
        rows, now = await reply(redis.eval(SNAPSHOT, len(names) + 1, queue, *names))
        for e, (st, job, queued, lease) in zip(group, rows, strict=True):
            state[e.member] = (_s(st), _s(job), int(queued), int(lease), int(now))
    return state


async def stuck(redis: Redis, prefix: str, expects: list[Expect], grace_ms: int) -> list[str]:
    """Non-terminal, unpaused instances with no queued job, or a lease long expired."""
    state = await schedule_state(redis, prefix, expects)
    out = []
    for member, (status, job, queued, lease, now) in state.items():
        if status in ("queued", "waiting") and not (job and queued):
            out.append(f"{member} {status} without a queued job")
        elif status == "running" and lease + grace_ms < now:
            out.append(f"{member} running on a lease that expired {now - lease} ms ago")
    return out


async def stray_entries(redis: Redis, prefix: str, terminal: set[str]) -> list[str]:
    """Lease-set members and queued jobs that belong to terminal instances."""
    out = []
    for space in (await layout_of(redis, prefix)).spaces():
        for member in await redis.zrange(keys.leases_key(space), 0, -1):
            if _s(member) in terminal:
                out.append(f"lease entry for terminal {_s(member)}")
        for job in await redis.zrange(keys.queue_key(space), 0, -1):
            owner = keys.parse_job_id(prefix, _s(job))
            member = keys.tag(*owner) if owner else ""
            if member in terminal:
                out.append(f"queued job {_s(job)} for terminal {member}")
    return out


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
