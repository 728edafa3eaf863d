"""Managing schedules through their tickers (durable.ticker): create or update, read, list,
pause, resume, trigger and delete. The Client's schedule methods speak through here.

A schedule is its ticker instance ("durable.schedule" / "<workflow>:<schedule id>"): creating
one creates the ticker (paused if asked); a different definition for an existing id is sent to
the ticker as a signal, which replaces its definition (ticks count from then on); deleting sends
a deletion signal and terminates the ticker; creating a deleted schedule again restarts its
ticker with the new definition.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from typing import TYPE_CHECKING, Any

from durable import validation
from durable.errors import (
    ClientError,
    InstanceTerminalError,
    ScheduleNotFoundError,
    ValidationError,
    WorkflowNotFoundError,
)
from durable.models import ScheduleEntry, ScheduleList
from durable.records import InstanceRecord, iso
from durable.replies import Snapshot
from durable.schedule import Schedule, check_definition, every_ms
from durable.schedule_state import SIGNAL, Definition, Signal, State, current_state
from durable.store import Ref
from durable.ticker import TICKER, ticker_id
from durable.types import TERMINAL_STATUSES, Status

if TYPE_CHECKING:
    from durable.client import Client
    from durable.settings import Settings
    from durable.workflow import Registry

log = logging.getLogger("durable.schedules")
FIELDS = ("id", "cron", "every", "params", "timezone", "paused", "overlap", "catchup")


def definition(client: Client, workflow: str, values: dict[str, Any]) -> Definition:
    """A validated definition (ValidationError naming each bad field; the params are checked
    against the workflow's params model, WORKFLOW_PARAMS_INVALID)."""
    wf = client._workflow(workflow)
    if wf.name == TICKER:  # the ticker is served, but is no workflow to schedule
        raise WorkflowNotFoundError(workflow)
    issues = check_definition(values)
    paused = values.get("paused", False)
    if not isinstance(paused, bool):
        issues.append({"path": "paused", "message": "true or false"})
    if issues:
        listed = "; ".join(f"{i['path']}: {i['message']}" for i in issues)
        raise ValidationError(f"invalid schedule: {listed}", issues)
    params = validation.params(wf, values.get("params"))
    validation.sized_json(params, "params", client.settings.max_payload_bytes)
    every = values.get("every")
    return Definition(
        workflow=wf.name,
        id=values["id"],
        cron=values.get("cron"),
        every=None if every is None else every if isinstance(every, str) else f"{every} ms",
        timezone=values.get("timezone", "UTC"),
        params=params,
        overlap=values.get("overlap", "skip"),
        catchup=values.get("catchup", "latest"),
    )


def _ref(workflow: str, schedule_id: str) -> Ref:
    return Ref(TICKER, ticker_id(workflow, schedule_id))


async def create(
    client: Client, workflow: str, values: dict[str, Any]
) -> tuple[ScheduleEntry, bool]:
    """Create a schedule, or update the one with its id; True when a schedule was made (new,
    or again after a deletion), False when one existed (unchanged or updated)."""
    wanted = definition(client, workflow, values)
    paused = bool(values.get("paused", False))
    ref = _ref(wanted.workflow, wanted.id)
    params = State(definition=wanted).dump()
    summary, made = await client.create(TICKER, instance_id=ref.instance_id, params=params)
    if made:
        if paused:
            await client.pause(TICKER, ref.instance_id)
        return await get(client, workflow, wanted.id), True
    if summary.details.status in TERMINAL_STATUSES:
        await client.restart(TICKER, ref.instance_id)
        return await _define(client, ref, wanted, paused), True
    state = await _state(client, ref)
    if state is None:
        return await _define(client, ref, wanted, paused), True
    if not state[0].definition.same_as(wanted):
        await _signal(client, ref, Signal(action="update", definition=wanted))
    return await get(client, workflow, wanted.id), False


async def _define(client: Client, ref: Ref, wanted: Definition, paused: bool) -> ScheduleEntry:
    """A ticker restarted after a deletion gets its definition (and is paused if asked)."""
    await _signal(client, ref, Signal(action="define", definition=wanted))
    if paused:
        await client.pause(TICKER, ref.instance_id)
    return await get(client, wanted.workflow, wanted.id)


async def _signal(client: Client, ref: Ref, signal: Signal, key: str | None = None) -> None:
    await client.send_event(
        TICKER, ref.instance_id, type=SIGNAL, payload=signal.dump(),
        event_id=key or f"sig_{uuid.uuid4().hex}",
    )  # fmt: skip


async def ensure(client: Client, schedule: Schedule) -> tuple[ScheduleEntry, bool]:
    """Make a schedule declared in code exist with its definition (idempotent)."""
    values = {name: getattr(schedule, name) for name in FIELDS}
    return await create(client, schedule.workflow_name, values)


async def ensure_declared(client: Client) -> int:
    """Ensure every schedule of the client's registry; returns how many were made or failed
    (each failure is logged, never raised: the others still get made)."""
    done = 0
    for schedule in client.registry.schedules:
        try:
            _, made = await ensure(client, schedule)
        except ClientError as exc:
            log.error("schedule %s/%s: %s", schedule.workflow_name, schedule.id, exc.message)
            continue
        done += made
    return done


async def declare(registry: Registry, settings: Settings, redis: Any) -> None:
    """A worker's start-up: ensure the registry's declared schedules over its own Redis
    connection. Failures are logged, never raised: a worker starts regardless."""
    from durable.client import Client

    client = Client(registry, settings, redis=redis)
    try:
        made = await client.ensure_schedules()
    except Exception as exc:  # whatever went wrong, the worker starts
        log.error("could not make the declared schedules: %s", exc)
    else:
        log.info("declared schedules: %d made, %d in all", made, len(registry.schedules))
    finally:
        await client.aclose()


# -- reading -------------------------------------------------------------------------------------


async def _state(client: Client, ref: Ref) -> tuple[State, InstanceRecord] | None:
    """A ticker's current state and instance, None when the schedule ended or was deleted."""
    read = await client.store.read(ref)
    if not isinstance(read, Snapshot):
        return None
    inst = InstanceRecord.decode(read.instance)
    if inst.status in (Status.COMPLETE, Status.TERMINATED):
        return None
    params = State.model_validate(inst.params)
    if params.created_at_ms is None:
        params = params.model_copy(update={"created_at_ms": inst.created_at_ms})
    state = await current_state(client.store, ref, inst.run, params)
    return None if state.deleted else (state, inst)


async def get(client: Client, workflow: str, schedule_id: str) -> ScheduleEntry:
    wf = client._workflow(workflow).name
    found = await _state(client, _ref(wf, schedule_id)) if _valid_id(schedule_id) else None
    if found is None:
        raise ScheduleNotFoundError(wf, schedule_id)
    state, inst = found
    return entry(state, inst, await client.store.redis_time_ms())


def _valid_id(value: str) -> bool:
    return not check_definition({"id": value, "every": "1 s"})


def entry(state: State, inst: InstanceRecord, now_ms: int) -> ScheduleEntry:
    d = state.definition
    paused = inst.status == Status.PAUSED or inst.pause_requested
    return ScheduleEntry.model_validate(
        {
            **d.model_dump(include={"id", "workflow", "cron", "every", "timezone", "params"}),
            "paused": paused,
            "overlap": d.overlap,
            "catchup": d.catchup,
            "nextRunAt": iso(d.timing().next_after(now_ms)),
            "lastRunAt": iso(state.last_tick_ms),
            "lastInstanceId": state.last_instance_id,
            "createdAt": iso(state.created_at_ms or inst.created_at_ms),
        }
    )


async def list_all(client: Client, workflow: str) -> ScheduleList:
    """Every schedule of `workflow`, by id: its tickers are the ticker instances whose id is
    "<workflow>:<schedule id>"."""
    from durable import listing

    wf = client._workflow(workflow).name
    found: list[ScheduleEntry] = []
    cursor: str | None = None
    now = await client.store.redis_time_ms()
    while True:
        page = await listing.page(client.store, listing.query(TICKER, None, None, 100, cursor))
        for item in page.instances:
            owner, _, schedule_id = item.id.rpartition(":")
            if owner != wf or item.details.status in (Status.COMPLETE, Status.TERMINATED):
                continue
            state = await _state(client, _ref(wf, schedule_id))
            if state is not None:
                found.append(entry(*state, now))
        cursor = page.next_cursor
        if cursor is None:
            return ScheduleList(schedules=sorted(found, key=lambda e: e.id))


# -- control -------------------------------------------------------------------------------------


async def delete(client: Client, workflow: str, schedule_id: str) -> None:
    """Delete a schedule: its ticker stops for good (instances it started carry on)."""
    found = await get(client, workflow, schedule_id)
    ref = _ref(found.workflow, found.id)
    await _signal(client, ref, Signal(action="delete"))
    with contextlib.suppress(InstanceTerminalError):  # the ticker took it and ended first
        await client.terminate(TICKER, ref.instance_id)


async def pause(client: Client, workflow: str, schedule_id: str) -> ScheduleEntry:
    found = await get(client, workflow, schedule_id)
    await client.pause(TICKER, _ref(found.workflow, found.id).instance_id)
    return await get(client, workflow, schedule_id)


async def resume(client: Client, workflow: str, schedule_id: str) -> ScheduleEntry:
    found = await get(client, workflow, schedule_id)
    await client.resume(TICKER, _ref(found.workflow, found.id).instance_id)
    return await get(client, workflow, schedule_id)


async def trigger(
    client: Client, workflow: str, schedule_id: str, *, idempotency_key: str | None = None
) -> None:
    """Start an instance now (id "<schedule id>:<now>"), by the schedule's overlap policy; a
    paused schedule starts it when resumed. A repeated key triggers once."""
    found = await get(client, workflow, schedule_id)
    key = validation.idempotency_key(idempotency_key)
    await _signal(client, _ref(found.workflow, found.id), Signal(action="trigger"), key)


__all__ = ["create", "delete", "ensure", "ensure_declared", "every_ms", "get", "list_all"]
