"""Each Lua script against a real Redis: the transitions and the refusals."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from durable import keys
from durable.records import encode_step
from durable.settings import Settings
from durable.store import Ref, Store, pairs


@pytest.fixture
def store(redis: Any, settings: Settings) -> Store:
    return Store(redis, settings)


REF = Ref("wf", "i1")


async def inst(store: Store) -> dict[str, str]:
    raw = await store.redis.hgetall(keys.instance_key(store.settings.prefix, "wf", "i1"))
    return {k.decode(): v.decode() for k, v in raw.items()}


async def acquire(store: Store, job: str = "") -> list[Any]:
    return await store.call("acquire", REF, job, "me", 5000)


async def test_create_is_idempotent_and_schedules_one_arq_job(store: Store) -> None:
    first = await store.call("create", REF, '{"a":1}')
    second = await store.call("create", REF, '{"a":2}')
    assert (first[0], second[0]) == (1, 0)
    assert pairs(second[1])["params"] == '{"a":1}'
    queue = await store.redis.zrange(keys.queue_key(store.settings.prefix), 0, -1)
    assert len(queue) == 1
    job = json.loads(await store.redis.get(keys.ARQ_JOB_PREFIX + queue[0].decode()))
    assert job["f"] == keys.ADVANCE_FUNCTION and job["a"] == ["wf", "i1"] and job["k"] == {}


async def test_acquire_takes_the_lease_once_and_refuses_stale_jobs(store: Store) -> None:
    await store.call("create", REF, "{}")
    job = (await inst(store))["job"]
    assert (await acquire(store, "not-the-job"))[0] == "stale"
    got = await acquire(store, job)
    assert got[0] == "ok" and got[1] == 1
    assert (await acquire(store))[0] == "busy"
    assert (await inst(store))["status"] == "running"


async def test_writes_with_a_stale_fence_are_rejected(store: Store) -> None:
    await store.call("create", REF, "{}")
    await acquire(store)
    rec = encode_step({"s": "completed", "n": "a", "t": "do", "q": 1, "r": 1})
    await store.call("terminate", REF, "tok")
    res = await store.call("save_step", REF, "1", 0, "a", rec, "commit", "", 0, 100)
    assert res == ["fenced"]
    steps = await store.redis.hgetall(keys.steps_key(store.settings.prefix, "wf", "i1", 0))
    assert steps == {}


async def test_the_first_committed_step_result_wins(store: Store) -> None:
    await store.call("create", REF, "{}")
    await acquire(store)
    one = encode_step({"s": "completed", "n": "a", "t": "do", "q": 1, "r": 1})
    two = encode_step({"s": "completed", "n": "a", "t": "do", "q": 1, "r": 2})
    assert (await store.call("save_step", REF, "1", 0, "a", one, "commit", "", 0, 100))[0] == "ok"
    res = await store.call("save_step", REF, "1", 0, "a", two, "commit", "", 0, 100)
    assert res == ["exists", one]


async def test_release_with_pause_requested_parks_the_instance(store: Store) -> None:
    await store.call("create", REF, "{}")
    await acquire(store)
    await store.call("pause", REF)
    assert (await inst(store))["pause"] == "1"
    assert await store.call("release", REF, "1", 0, 10**13, "", 0, "suspend") == ["paused"]
    state = await inst(store)
    assert state["status"] == "paused" and "job" not in state


async def test_reap_recovers_an_expired_lease_and_bumps_the_fence(store: Store) -> None:
    await store.call("create", REF, "{}")
    await store.call("acquire", REF, "", "dead", 1)
    await store.redis.hset(keys.instance_key(store.settings.prefix, "wf", "i1"), "lease", 1)
    await store.redis.zadd(keys.leases_key(store.settings.prefix), {"wf/i1": 1})
    assert await store.reap() == (1, 0)
    state = await inst(store)
    assert (state["status"], state["fence"]) == ("queued", "2")
    assert state["job"].startswith(keys.job_id_stem(store.settings.prefix, "wf", "i1"))


async def test_send_event_dedupes_by_id_and_wakes_a_waiting_instance(store: Store) -> None:
    await store.call("create", REF, "{}")
    await acquire(store)
    await store.call("release", REF, "1", 0, 10**13, "", 0, "suspend")
    assert (await inst(store))["status"] == "waiting"
    head = '{"id":"e1","t":"go"'
    assert (await store.call("send_event", REF, head, "[]", "e1"))[0] == "ok"
    assert (await store.call("send_event", REF, head, "[]", "e1"))[0] == "dup"
    state = await inst(store)
    assert (state["status"], state["evn"]) == ("queued", "1")
    events = await store.redis.hgetall(keys.events_key(store.settings.prefix, "wf", "i1", 0))
    assert events[b"1:p"] == b"[]"


async def test_wait_event_consumes_only_events_created_before_the_deadline(store: Store) -> None:
    await store.call("create", REF, "{}")
    await store.call("send_event", REF, '{"id":"e1","t":"go"', '{"n":1}', "")
    await acquire(store)
    head = '{"n":"w","t":"waitForEvent","q":1'
    res = await store.call("wait_event", REF, "1", 0, "w", "go", 0, head, "", 0, 100, "late")
    assert res[0] == "timeout"  # deadline 0: the event came after it
    res = await store.call("wait_event", REF, "1", 0, "w2", "go", 10**13, head, "", 0, 100, "x")
    assert res[0] == "event"
    assert json.loads(res[1])["r"]["payload"] == {"n": 1}


async def test_restart_opens_a_new_run_and_persists_old_keys(store: Store) -> None:
    await store.call("create", REF, "{}")
    await store.call("terminate", REF, "tok")
    ttl = await store.redis.pttl(keys.instance_key(store.settings.prefix, "wf", "i1"))
    assert ttl > 0
    assert await store.call("restart", REF, "tok2") == ["ok", 1]
    assert await store.redis.pttl(keys.instance_key(store.settings.prefix, "wf", "i1")) == -1
    state = await inst(store)
    assert (state["status"], state["run"]) == ("queued", "1")


async def test_retry_step_compares_and_sets_the_step_record(store: Store) -> None:
    await store.call("create", REF, "{}")
    await acquire(store)
    rec = encode_step({"s": "errored", "n": "a", "t": "do", "q": 1, "a": 1, "m": 1})
    await store.call("save_step", REF, "1", 0, "a", rec, "commit", "", 0, 100)
    await store.call("finish", REF, "1", 0, "errored", '{"name":"E","message":"m"}', "", 0)
    head = encode_step({"s": "waiting", "n": "a", "t": "do", "q": 1, "a": 1, "m": 2})[:-1]
    assert (await store.call("retry_step", REF, "a", "other", head, 0))[0] == "conflict"
    res = await store.call("retry_step", REF, "a", rec, head, 0)
    assert res[0] == "ok" and json.loads(res[1])["m"] == 2
    assert (await inst(store))["status"] == "waiting"


async def test_finished_instances_expire_and_leave_the_indexes(
    redis: Any, settings: Settings
) -> None:
    from dataclasses import replace

    store = Store(redis, replace(settings, retention_ms=50))
    await store.call("create", REF, "{}")
    await store.call("terminate", REF, "tok")
    index = keys.workflow_index_key(settings.prefix, "wf")
    assert await redis.zcard(index) == 1
    await asyncio.sleep(0.1)  # past the 50 ms retention
    assert await store.reap() == (0, 1)
    assert await redis.zcard(index) == 0
    assert await redis.exists(keys.instance_key(settings.prefix, "wf", "i1")) == 0


async def test_reap_clears_the_arq_markers_of_a_dead_workers_job(store: Store) -> None:
    await store.call("create", REF, "{}")
    job = (await inst(store))["job"]
    await store.redis.set(keys.ARQ_IN_PROGRESS_PREFIX + job, b"1", px=86_400_000)
    await store.call("acquire", REF, job, "dead", 1)
    await store.redis.hset(keys.instance_key(store.settings.prefix, "wf", "i1"), "lease", 1)
    await store.redis.zadd(keys.leases_key(store.settings.prefix), {"wf/i1": 1})
    assert await store.reap() == (1, 0)
    assert await store.redis.exists(keys.ARQ_IN_PROGRESS_PREFIX + job) == 0
