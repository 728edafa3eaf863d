"""Concurrency and rate limits: their declaration, the gate scripts against a real Redis, and
the slots that error, terminate and restart free (in-process workers; worker processes:
tests/worker/test_limits_workers.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

import durable
from durable import Concurrency, ConfigurationError, RateLimit, define_workflow, gate, workflow
from durable.client import Client
from durable.limits import Limits, gate_id
from durable.replies import GateHeld, GateState, Snapshot, Tag
from durable.settings import Settings
from durable.store import Ref, Store
from tests.conftest import WorkerPool
from tests.helpers import assert_eventually
from tests.worker import limit_flows
from tests.worker.limit_flows import key

pytestmark = pytest.mark.timeout(60)


# -- declaring limits ----------------------------------------------------------------------------


def test_limits_are_exported_and_accepted_by_both_ways_of_defining_a_workflow() -> None:
    assert durable.Concurrency is Concurrency and durable.RateLimit is RateLimit

    async def fn(event: Any, step: Any) -> None:
        return None

    one = define_workflow("a", fn, concurrency=Concurrency(2, key="tenant"))
    two = workflow("b", rate_limit=RateLimit(3, "1 min"))(fn)
    both = workflow("c", concurrency=Concurrency(1), rate_limit=RateLimit(1, "1 s"))(fn)
    assert one.limits.declared and one.limits.key == "tenant"
    assert two.limits.argv() == {"concurrency_limit": 0, "rate_limit": 3, "period_ms": 60_000}
    assert both.limits.argv() == {"concurrency_limit": 1, "rate_limit": 1, "period_ms": 1000}
    assert not define_workflow("d", fn).limits.declared


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Concurrency(0), "integer >= 1"),
        (lambda: Concurrency(True), "integer >= 1"),
        (lambda: Concurrency(1.5), "integer >= 1"),  # type: ignore[arg-type]
        (lambda: Concurrency(1, key=""), "field path"),
        (lambda: Concurrency(1, key="a..b"), "empty field name"),
        (lambda: RateLimit(0, "1 s"), "integer >= 1"),
        (lambda: RateLimit(1, "soon"), "RateLimit period"),
        (lambda: RateLimit(1, 0), "at least 1 ms"),
        (lambda: Limits(Concurrency(1, key="a"), RateLimit(1, "1 s", key="b")), "same key"),
        (lambda: Limits(concurrency=2), "must be a Concurrency"),  # type: ignore[arg-type]
    ],
)
def test_invalid_limits_are_configuration_errors(build: Any, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        build()


def test_the_key_value_comes_from_a_params_field_path() -> None:
    limits = Limits(Concurrency(1, key="customer.region"))
    assert limits.key_value({"customer": {"region": "eu"}}) == '"eu"'
    assert limits.key_value({"customer": {"region": 7}}) == "7"
    # a missing field (or params that are no object) share one gate: null
    assert limits.key_value({"customer": {}}) == "null"
    assert limits.key_value([1, 2]) == "null"
    assert Limits(Concurrency(1)).key_value({"region": "eu"}) == "null"
    assert gate_id('"eu"') != gate_id("null")


# -- the gate scripts ----------------------------------------------------------------------------


@pytest.fixture
async def store(redis: Redis, settings: Settings) -> AsyncIterator[Store]:
    s = Store(redis, settings)
    await s.open()
    yield s
    await s.aclose()


async def enter(
    store: Store, iid: str, created: int, *, run: int = 0, limit: int = 1, rate: int = 0
) -> GateState:
    return await store.gate_enter(
        "wf", "g", instance_id=iid, run=run, created_ms=created, key_value="null",
        concurrency_limit=limit, rate_limit=rate, period_ms=60_000 if rate else 0,
    )  # fmt: skip


async def test_the_gate_grants_in_creation_order_then_id_whatever_the_order_they_arrive(
    store: Store,
) -> None:
    assert (await enter(store, "first", 100)).holds
    late = await enter(store, "b-late", 300)
    early = await enter(store, "c-early", 200)
    tie = await enter(store, "a-tie", 200)
    assert not late.holds and not early.holds and not tie.holds
    assert (tie.blocked, tie.head) == ("concurrency", "a-tie")
    freed = await store.gate_leave("wf", "g", instance_id="first", below=1)
    assert freed.granted == (("a-tie", 0),)
    assert (await store.gate_leave("wf", "g", instance_id="a-tie", below=1)).granted == (
        ("c-early", 0),
    )
    # entering again while holding (a lease recovered before the run was marked) is no new slot
    again = await enter(store, "c-early", 200)
    assert again.holds and again.head == "b-late" and again.blocked == "concurrency"


async def test_a_restarted_run_replaces_its_earlier_run_and_a_stale_caller_changes_nothing(
    store: Store,
) -> None:
    assert (await enter(store, "x", 100, run=0)).holds
    assert (await enter(store, "x", 100, run=1)).holds  # run 0 is over: its slot is run 1's
    stale = await enter(store, "x", 100, run=0)
    assert not stale.holds and stale.head == ""  # not queued: a later run is in the gate
    assert await store.gate_holders("wf", "g") == {"x": 1}
    left = await store.gate_leave("wf", "g", instance_id="x", below=1)  # only runs below 1
    assert await store.gate_holders("wf", "g") == {"x": 1} and not left.empty
    assert (await store.gate_leave("wf", "g", instance_id="x", below=2)).empty


async def test_the_rate_window_answers_when_it_frees(store: Store) -> None:
    first = await enter(store, "a", 100, limit=0, rate=2)
    second = await enter(store, "b", 101, limit=0, rate=2)
    third = await enter(store, "c", 102, limit=0, rate=2)
    assert first.holds and second.holds and not third.holds
    assert third.blocked == "rateLimit" and third.head == "c"
    # the window frees a period after the oldest start of it
    assert 60_000 - 1000 < third.free_at_ms - (await store.redis_time_ms()) <= 60_000
    # a holder leaving frees no start of the window
    assert not (await store.gate_leave("wf", "g", instance_id="a", below=1)).granted


async def test_gate_wake_schedules_a_held_instance_and_reports_stale_ones(
    store: Store, settings: Settings
) -> None:
    ref = Ref("wf", "i")
    await store.create(ref, params="{}")
    assert (await store.gate_wake(ref, run=1)).status == Tag.STALE  # another run
    assert (await store.gate_wake(ref, run=0)).status == Tag.QUEUED
    assert (await store.gate_wake(Ref("wf", "none"), run=0)).status == Tag.STALE


# -- workers: what frees a slot ------------------------------------------------------------------


@pytest.fixture
async def limited(
    workers: WorkerPool, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Client]:
    monkeypatch.setenv("DURABLE_PREFIX", settings.prefix)
    monkeypatch.setenv("REDIS_URL", settings.redis_url)
    await workers.start(limit_flows.workflows, count=2)
    client = Client(limit_flows.workflows, settings)
    yield client
    await client.aclose()


async def starts(redis: Redis, tenant: str) -> list[str]:
    return [v.decode() for v in await redis.lrange(key("starts", tenant), 0, -1)]  # type: ignore[misc]


async def waiting_for(client: Client, iid: str) -> Any:
    meta = (await client.get("per-tenant", iid)).meta
    return None if meta.waiting_for is None else meta.waiting_for.model_dump(by_alias=True)


async def hold_one_and_queue_one(client: Client, redis: Redis, tenant: str) -> None:
    await client.create("per-tenant", instance_id=f"{tenant}-1", params={"tenant": tenant})
    await assert_eventually(lambda: _equal(starts(redis, tenant), [f"{tenant}-1"]))
    await client.create("per-tenant", instance_id=f"{tenant}-2", params={"tenant": tenant})
    expected = {"limit": "concurrency", "key": "tenant", "value": tenant}
    await assert_eventually(lambda: _equal(waiting_for(client, f"{tenant}-2"), expected))
    assert (await client.get("per-tenant", f"{tenant}-2")).meta.started_at is None


async def _equal(got: Any, expected: Any) -> bool:
    return bool(await got == expected)


async def test_an_errored_run_frees_its_slot(limited: Client, redis: Redis) -> None:
    await limited.create("per-tenant", instance_id="e-1", params={"tenant": "e", "fail": True})
    await assert_eventually(lambda: _equal(starts(redis, "e"), ["e-1"]))
    await limited.create("per-tenant", instance_id="e-2", params={"tenant": "e"})
    await assert_eventually(lambda: waiting_for(limited, "e-2"))
    await redis.set(key("release", "e-1"), 1)
    await assert_eventually(lambda: _equal(starts(redis, "e"), ["e-1", "e-2"]))
    assert (await limited.get("per-tenant", "e-1")).details.status == "errored"
    assert await waiting_for(limited, "e-2") is None


async def test_terminate_frees_the_slot_at_once(limited: Client, redis: Redis) -> None:
    await hold_one_and_queue_one(limited, redis, "t")
    await limited.terminate("per-tenant", "t-1")
    await assert_eventually(lambda: _equal(starts(redis, "t"), ["t-1", "t-2"]))


async def test_terminating_a_waiting_instance_takes_it_out_of_line(
    limited: Client, redis: Redis
) -> None:
    await hold_one_and_queue_one(limited, redis, "q")
    await limited.create("per-tenant", instance_id="q-3", params={"tenant": "q"})
    await assert_eventually(lambda: waiting_for(limited, "q-3"))
    await limited.terminate("per-tenant", "q-2")
    await redis.set(key("release", "q-1"), 1)
    await assert_eventually(lambda: _equal(starts(redis, "q"), ["q-1", "q-3"]))


async def test_restart_frees_the_slot_and_the_new_run_queues_again(
    limited: Client, redis: Redis
) -> None:
    await hold_one_and_queue_one(limited, redis, "r")
    await limited.restart("per-tenant", "r-1")
    # the slot of run 0 is free: r-2 takes it, or the new run of r-1 (created first) when it
    # came to the gate before the restart's release did; the other waits behind it
    second = (await assert_eventually(lambda: _from(starts(redis, "r"), 1)))[1]
    other = "r-2" if second == "r-1" else "r-1"
    expected = {"limit": "concurrency", "key": "tenant", "value": "r"}
    await assert_eventually(lambda: _equal(waiting_for(limited, other), expected))
    await redis.set(key("release", second), 1)
    await assert_eventually(lambda: _equal(starts(redis, "r"), ["r-1", second, other]))


async def _from(got: Any, index: int) -> Any:
    values = await got
    return values if len(values) > index else None


async def test_bulk_terminate_frees_the_slots(limited: Client, redis: Redis) -> None:
    await hold_one_and_queue_one(limited, redis, "b")
    result = await limited.bulk("per-tenant", "terminate", ids=["b-1"])
    assert result.changed == 1
    await assert_eventually(lambda: _equal(starts(redis, "b"), ["b-1", "b-2"]))


# -- the sweep -----------------------------------------------------------------------------------


async def test_the_sweep_releases_a_slot_whose_run_ended_without_leaving_and_wakes_the_next(
    store: Store,
) -> None:
    """A worker killed between a terminal transition and its release: the gate still holds
    the ended run; the sweep frees it, grants the next in line and gives it a job."""
    x, y = Ref("wf", "x"), Ref("wf", "y")
    for ref in (x, y):
        await store.create(ref, params="{}")
    assert (await enter(store, "x", 100)).holds
    got = await store.acquire(y, job_id="", owner="w", ttl_ms=5000)
    assert not (await enter(store, "y", 200)).holds
    held = await store.gate_wait(y, fence=got.fence, run=0, key_value="null", note="{}", due_ms=0)  # type: ignore[union-attr]
    assert held == GateHeld(Tag.HELD)
    await store.terminate(x, token="t", answer_ttl_ms=1000)  # no release: as if it crashed
    await store.note_gate("wf", "g", 0)
    await gate.sweep(store, ["wf"])
    assert await store.gate_holders("wf", "g") == {"y": 0}
    snapshot = await store.read(y)
    assert isinstance(snapshot, Snapshot) and snapshot.instance.get("job")  # due again
    assert await store.gates("wf") == {"g": 0}  # not empty: still listed


async def test_the_sweep_forgets_an_empty_gate_and_runs_only_for_workflows_with_limits(
    store: Store,
) -> None:
    assert (await enter(store, "gone", 100)).holds  # an instance that no longer exists
    await store.note_gate("wf", "g", 0)
    await gate.sweep(store, ["wf"])
    assert await store.gate_holders("wf", "g") == {}
    assert await store.gates("wf") == {}

    async def fn(event: Any, step: Any) -> None:
        return None

    assert gate.start_sweep(store, [define_workflow("plain", fn)]) is None


async def test_gate_calls_retried_after_a_lost_reply_change_nothing_more(store: Store) -> None:
    # every gate call may be sent twice (its first reply lost); the second must count nothing
    assert (await enter(store, "a", 100)).holds
    for _ in range(2):
        assert not (await enter(store, "b", 200)).holds  # in line once, not twice
        assert not (await enter(store, "c", 300)).holds
    first = await store.gate_leave("wf", "g", instance_id="a", below=1)
    assert first.granted == (("b", 0),)
    again = await store.gate_leave("wf", "g", instance_id="a", below=1)
    assert again.granted == () and again.head == "c"  # no second slot handed out
    assert await store.gate_holders("wf", "g") == {"b": 0}
    assert (await store.gate_leave("wf", "g", instance_id="b", below=1)).granted == (("c", 0),)
    assert await store.gate_holders("wf", "g") == {"c": 0}


async def test_a_retried_start_is_counted_once_in_the_rate_window(store: Store) -> None:
    assert (await enter(store, "a", 100, limit=0, rate=2)).holds
    assert (await enter(store, "a", 100, limit=0, rate=2)).holds  # the same start again
    assert (await enter(store, "b", 101, limit=0, rate=2)).holds  # the window's second start
    blocked = await enter(store, "c", 102, limit=0, rate=2)
    assert not blocked.holds and blocked.blocked == "rateLimit"
