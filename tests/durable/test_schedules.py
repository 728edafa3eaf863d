"""Schedules on a real Redis with in-process workers: ticks, pause and resume, triggers,
overlap, catch-up, fresh runs, updates and deletion (durable/schedules.py, durable/ticker.py).

Ticks are whole seconds (`every="1 s"`); the tests wait for instances to appear, and a wait for
time to pass happens only where the test is about ticks missed meanwhile."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from durable import Schedule, StepContext, workflow
from durable import ticker as ticker_module
from durable.client import Client
from durable.errors import ScheduleNotFoundError, ValidationError, WorkflowNotFoundError
from durable.workflow import RegistryLike
from tests.conftest import WorkerPool
from tests.helpers import assert_eventually

pytestmark = pytest.mark.timeout(90)
TICK_ID = re.compile(r"(?P<sid>[\w.-]+):(?P<tick>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)")
Factory = Callable[[RegistryLike], Client]


@workflow("tick-job")
async def tick_job(event: Any, step: Any) -> Any:
    return await step.do("run", lambda: event.payload)


@workflow("held-job")
async def held_job(event: Any, step: Any) -> None:
    await step.wait_for_event("release", type="release", timeout="1 h")


def _fail_first(ctx: StepContext) -> int:
    if ctx.attempt < 2:
        raise RuntimeError("the first attempt fails")
    return ctx.attempt


@workflow("fail-once")
async def fail_once(event: Any, step: Any) -> Any:
    return await step.do("flaky", _fail_first)


FLOWS = [tick_job, held_job, fail_once]


async def ids(client: Client, wf: str) -> list[str]:
    found: list[str] = []
    cursor = None
    while True:
        page = await client.list_instances(wf, page_size=100, cursor=cursor)
        found += [item.id for item in page.instances]
        cursor = page.next_cursor
        if cursor is None:
            return sorted(found)


def tick_of(instance_id: str) -> float:
    match = TICK_ID.fullmatch(instance_id)
    assert match, instance_id
    return datetime.fromisoformat(match["tick"]).timestamp()


async def at_least(client: Client, wf: str, n: int) -> list[str]:
    async def enough() -> list[str] | None:
        found = await ids(client, wf)
        return found if len(found) >= n else None

    got: list[str] = await assert_eventually(enough, 20)
    return got


async def test_each_tick_starts_one_instance_named_by_its_tick(
    workers: WorkerPool, client_factory: Factory
) -> None:
    await workers.start(FLOWS, count=2)
    client = client_factory(FLOWS)
    # catchup "all": a tick that starts late (a busy machine) does not make the next one skip it
    entry, made = await client.create_schedule(
        "tick-job", "every-second", every="1 s", params=[1], catchup="all"
    )
    assert made and entry.every == "1 s" and entry.next_run_at > entry.created_at
    found = await at_least(client, "tick-job", 3)
    ticks = sorted(tick_of(i) for i in found)
    assert all(i.startswith("every-second:") for i in found)
    assert ticks == [ticks[0] + n for n in range(len(ticks))]  # one per second, none twice
    done = await client.wait("tick-job", found[0])
    assert done.details.output == [1]
    entry = await client.get_schedule("tick-job", "every-second")
    assert entry.last_instance_id in await ids(client, "tick-job")
    assert entry.last_run_at is not None


async def test_trigger_starts_an_instance_now(workers: WorkerPool, client_factory: Factory) -> None:
    await workers.start(FLOWS)
    client = client_factory(FLOWS)
    await client.create_schedule("tick-job", "yearly", cron="0 0 1 1 *", params={"a": 1})
    await client.trigger_schedule("tick-job", "yearly", idempotency_key="t1")
    await client.trigger_schedule("tick-job", "yearly", idempotency_key="t1")  # the same call
    (started,) = await at_least(client, "tick-job", 1)
    assert started.startswith("yearly:")
    entry = await client.get_schedule("tick-job", "yearly")
    await assert_eventually(lambda: _last_is(client, "tick-job", "yearly", started))
    assert entry.cron == "0 0 1 1 *" and entry.params == {"a": 1}
    assert (await client.wait("tick-job", started)).details.output == {"a": 1}
    assert await ids(client, "tick-job") == [started]


async def _last_is(client: Client, wf: str, sid: str, iid: str) -> bool:
    return (await client.get_schedule(wf, sid)).last_instance_id == iid


async def test_pause_stops_ticks_and_resume_starts_only_the_latest_missed(
    workers: WorkerPool, client_factory: Factory
) -> None:
    await workers.start(FLOWS)
    client = client_factory(FLOWS)
    await client.create_schedule("tick-job", "p", every="1 s")
    await at_least(client, "tick-job", 1)
    paused = await client.pause_schedule("tick-job", "p")
    assert paused.paused
    await assert_eventually(lambda: _ticker_is(client, "tick-job:p", "paused"))
    before = await ids(client, "tick-job")
    await asyncio.sleep(3.2)  # three ticks pass while it is paused
    assert not (await client.resume_schedule("tick-job", "p")).paused
    after = await at_least(client, "tick-job", len(before) + 1)
    new = sorted(set(after) - set(before), key=tick_of)
    gap = tick_of(new[0]) - tick_of(sorted(before, key=tick_of)[-1])
    assert gap >= 3  # nothing started while paused, and of the missed ticks only the latest


async def _ticker_is(client: Client, iid: str, status: str) -> bool:
    return bool((await client.get("durable.schedule", iid)).details.status == status)


async def test_overlap_skip_waits_for_the_previous_instance(
    workers: WorkerPool, client_factory: Factory
) -> None:
    await workers.start(FLOWS)
    client = client_factory(FLOWS)
    await client.create_schedule("held-job", "one-at-a-time", every="1 s")
    (first,) = await at_least(client, "held-job", 1)
    await assert_eventually(lambda: _logged(client, "held-job:one-at-a-time", "skipped"), 15)
    assert await ids(client, "held-job") == [first]  # the ticks it skipped started nothing
    await client.send_event("held-job", first, type="release")
    await at_least(client, "held-job", 2)


async def _logged(client: Client, ticker: str, text: str) -> bool:
    history = await client.history("durable.schedule", ticker, include_logs=True, page_size=100)
    return any(text in line.message for line in history.logs or [])


async def test_overlap_allow_starts_every_tick(
    workers: WorkerPool, client_factory: Factory
) -> None:
    await workers.start(FLOWS)
    client = client_factory(FLOWS)
    await client.create_schedule("held-job", "pile-up", every="1 s", overlap="allow")
    found = await at_least(client, "held-job", 3)
    statuses = {(await client.get("held-job", i)).details.status for i in found}
    assert statuses <= {"waiting", "queued", "running"}  # all still running side by side


@pytest.mark.parametrize(("catchup", "missed"), [("latest", 1), ("all", 3)])
async def test_after_downtime_catchup_starts_the_latest_or_all_missed_ticks(
    workers: WorkerPool, client_factory: Factory, catchup: str, missed: int
) -> None:
    await workers.start(FLOWS)
    client = client_factory(FLOWS)
    await client.create_schedule("tick-job", "c", every="1 s", catchup=catchup)
    await at_least(client, "tick-job", 1)
    await workers.stop()
    before = await ids(client, "tick-job")
    last = max(tick_of(i) for i in before)
    started = asyncio.get_running_loop().time()
    await asyncio.sleep(3.5)  # three or four ticks pass with no worker
    await workers.start(FLOWS)
    after = await at_least(client, "tick-job", len(before) + missed)
    downtime = asyncio.get_running_loop().time() - started
    new = sorted(tick_of(i) for i in set(after) - set(before))
    caught = [t for t in new if t <= last + downtime + 0.5]  # ticks of the downtime
    if catchup == "latest":
        assert len(caught) >= 1 and caught[0] >= last + 3  # the earlier missed ones: none
    else:
        assert caught[:missed] == [last + 1 + n for n in range(missed)]


async def test_a_ticker_starts_fresh_runs_without_missing_a_tick(
    workers: WorkerPool, client_factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ticker_module, "TICKS_PER_RUN", 2)
    await workers.start(FLOWS)
    client = client_factory(FLOWS)
    await client.create_schedule("tick-job", "runs", every="1 s", catchup="all")

    async def third_run() -> bool:
        return (await client.get("durable.schedule", "tick-job:runs")).details.run_number >= 3

    await assert_eventually(third_run, 20)
    ticks = sorted(tick_of(i) for i in await ids(client, "tick-job"))
    assert ticks == [ticks[0] + n for n in range(len(ticks))] and len(ticks) >= 5
    first_run = await client.history("durable.schedule", "tick-job:runs", run_number=0)
    assert first_run.steps == []  # a ticker keeps its last two runs
    entry = await client.get_schedule("tick-job", "runs")
    assert entry.every == "1 s" and entry.last_instance_id is not None


async def test_a_new_definition_updates_the_schedule(
    workers: WorkerPool, client_factory: Factory
) -> None:
    await workers.start(FLOWS)
    client = client_factory(FLOWS)
    first, made = await client.create_schedule("tick-job", "u", every="1 h", params={"v": 1})
    same, again = await client.create_schedule("tick-job", "u", every="60 min", params={"v": 1})
    assert made and not again and same.created_at == first.created_at
    updated, made = await client.create_schedule(
        "tick-job", "u", cron="*/5 * * * *", params={"v": 2}, timezone="Europe/Paris"
    )
    assert not made
    assert (updated.cron, updated.every, updated.params) == ("*/5 * * * *", None, {"v": 2})
    await assert_eventually(lambda: _logged_step(client, "tick-job:u", "signal"))
    assert (await client.get_schedule("tick-job", "u")).timezone == "Europe/Paris"
    listed = await client.list_schedules("tick-job")
    assert [e.id for e in listed.schedules] == ["u"]


async def _logged_step(client: Client, ticker: str, name: str) -> bool:
    history = await client.history("durable.schedule", ticker, page_size=100)
    return any(s.name == name and s.status == "completed" for s in history.steps)


async def test_a_deleted_schedule_is_gone_and_can_be_made_again(
    workers: WorkerPool, client_factory: Factory
) -> None:
    await workers.start(FLOWS)
    client = client_factory(FLOWS)
    await client.create_schedule("tick-job", "d", every="1 h")
    await client.delete_schedule("tick-job", "d")
    with pytest.raises(ScheduleNotFoundError):
        await client.get_schedule("tick-job", "d")
    with pytest.raises(ScheduleNotFoundError):
        await client.trigger_schedule("tick-job", "d")
    assert (await client.list_schedules("tick-job")).schedules == []
    entry, made = await client.create_schedule("tick-job", "d", every="1 s", params="again")
    assert made and entry.every == "1 s"
    found = await at_least(client, "tick-job", 1)
    assert (await client.wait("tick-job", found[0])).details.output == "again"


async def test_bad_definitions_are_refused(client_factory: Factory) -> None:
    client = client_factory(FLOWS)
    with pytest.raises(ValidationError) as bad:
        await client.create_schedule("tick-job", "b", cron="0 3 * *", timezone="Nowhere/City")
    assert [i["path"] for i in bad.value.issues] == ["cron", "timezone"]
    with pytest.raises(ValidationError):
        await client.create_schedule("tick-job", "b")
    with pytest.raises(WorkflowNotFoundError):
        await client.create_schedule("durable.schedule", "b", every="1 h")
    assert (await client.list_schedules("tick-job")).schedules == []


async def test_declared_schedules_are_made_when_a_worker_starts(
    workers: WorkerPool, client_factory: Factory
) -> None:
    declared = Schedule("auto", tick_job, every="1 h", params={"from": "code"}, paused=True)
    await workers.start([*FLOWS, declared])
    client = client_factory([*FLOWS, declared])
    entry = await assert_eventually(lambda: _paused(client, "tick-job", "auto"))
    assert entry.params == {"from": "code"} and entry.every == "1 h"
    await workers.stop()
    changed = Schedule("auto", tick_job, every="2 h", params={"from": "code"})
    await workers.start([*FLOWS, changed])

    async def updated() -> bool:
        found = await _schedule(client, "tick-job", "auto")
        return found is not None and found.every == "2 h" and found.paused

    await assert_eventually(updated)  # updated, and still paused at run time


async def _paused(client: Client, wf: str, sid: str) -> Any:
    found = await _schedule(client, wf, sid)
    return found if found is not None and found.paused else None


async def _schedule(client: Client, wf: str, sid: str) -> Any:
    try:
        return await client.get_schedule(wf, sid)
    except ScheduleNotFoundError:
        return None
