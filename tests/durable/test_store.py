"""Each Lua script against a real Redis: the transitions and the refusals."""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

import pytest

from durable import keys
from durable.records import StepRecord
from durable.replies import (
    Acquired,
    Conflict,
    Controlled,
    EventStored,
    Exists,
    Fenced,
    Finished,
    LimitReached,
    NotErrored,
    NotFound,
    Reaped,
    Refused,
    Released,
    Renewed,
    Reopened,
    Restarted,
    Saved,
    Snapshot,
    Tag,
    Terminal,
    WaitResolved,
)
from durable.settings import Settings
from durable.store import INCLUDES, SCRIPTS, Ref, Store
from durable.types import StepStatus, StepType
from tests.helpers import assert_eventually, reply


@pytest.fixture
def store(redis: Any, settings: Settings) -> Store:
    return Store(redis, settings)


REF = Ref("wf", "i1")


def step(status: StepStatus, **fields: Any) -> str:
    """A `do` step record named "a", first in its run, as the engine writes it."""
    return StepRecord(status, "a", StepType.DO, 1, **fields).encode()


async def inst(store: Store) -> dict[str, str]:
    raw = await reply(store.redis.hgetall(keys.instance_key(store.space(REF), "wf", "i1")))
    return {k.decode(): v.decode() for k, v in raw.items()}


async def acquire(store: Store, job: str = "", owner: str = "me", ttl_ms: int = 5000) -> Any:
    return await store.acquire(REF, job_id=job, owner=owner, ttl_ms=ttl_ms)


async def save(store: Store, record: str, fence: str = "1") -> Any:
    return await store.save_step(
        REF, fence=fence, run=0, key="a", record=record, mode="commit", log_lines="",
        log_count=0, max_steps=100,
    )  # fmt: skip


async def suspend(store: Store, due_ms: int = 10**13) -> Any:
    return await store.release(
        REF, fence="1", run=0, due_ms=due_ms, log_lines="", log_count=0, mode="suspend"
    )


async def wait(store: Store, key: str, deadline_ms: int) -> Any:
    return await store.wait_event(
        REF, fence="1", run=0, key=key, event_type="go", deadline_ms=deadline_ms,
        head='{"n":"w","t":"waitForEvent","q":1', log_lines="", log_count=0, max_steps=100,
        timeout_message="late",
    )  # fmt: skip


async def terminate(store: Store, token: str = "tok") -> Any:
    return await store.terminate(REF, token=token, answer_ttl_ms=1000)


async def retry(store: Store, expected: str, head: str) -> Any:
    return await store.retry_step(
        REF, key="a", expected=expected, head=head, delay_ms=0, answer="{", answer_ttl_ms=1000
    )


async def test_create_is_idempotent_and_schedules_one_arq_job(store: Store) -> None:
    first = await store.create(REF, params='{"a":1}')
    second = await store.create(REF, params='{"a":2}')
    assert (first.created, second.created) == (True, False)
    assert second.instance["params"] == '{"a":1}'
    queue = await store.redis.zrange(keys.queue_key(store.space(REF)), 0, -1)
    assert len(queue) == 1
    job = json.loads(await store.redis.get(keys.arq_job_key(queue[0].decode())))
    assert job["f"] == keys.ADVANCE_FUNCTION and job["a"] == ["wf", "i1"] and job["k"] == {}


async def test_acquire_takes_the_lease_once_and_refuses_stale_jobs(store: Store) -> None:
    await store.create(REF, params="{}")
    job = (await inst(store))["job"]
    assert await acquire(store, "not-the-job") == Refused(Tag.STALE)
    got = await acquire(store, job)
    assert isinstance(got, Acquired) and got.fence == "1"
    assert got.instance["status"] == "running" and got.steps == {}
    assert await acquire(store) == Refused(Tag.BUSY)
    assert (await inst(store))["status"] == "running"


async def test_acquire_refuses_a_missing_or_ended_instance(store: Store) -> None:
    assert await acquire(store) == Refused(Tag.GONE)
    await store.create(REF, params="{}")
    await terminate(store)
    assert await acquire(store) == Refused(Tag.INACTIVE, "terminated")


async def test_writes_with_a_stale_fence_are_rejected(store: Store) -> None:
    await store.create(REF, params="{}")
    await acquire(store)
    rec = step(StepStatus.COMPLETED, result=1)
    await terminate(store)
    assert await save(store, rec) == Fenced()
    steps = await reply(store.redis.hgetall(keys.steps_key(store.space(REF), "wf", "i1", 0)))
    assert steps == {}
    finished = await store.finish(
        REF, fence="1", run=0, outcome="complete", value="1", log_lines="", log_count=0
    )
    assert finished == Fenced()
    assert await store.renew(REF, fence="1", ttl_ms=1000) == Fenced()
    assert await suspend(store) == Fenced()


async def test_the_first_committed_step_result_wins(store: Store) -> None:
    await store.create(REF, params="{}")
    await acquire(store)
    one = step(StepStatus.COMPLETED, result=1)
    two = step(StepStatus.COMPLETED, result=2)
    assert await save(store, one) == Saved(pause_requested=False, woken=False)
    assert await save(store, two) == Exists(one)


async def test_release_with_pause_requested_parks_the_instance(store: Store) -> None:
    await store.create(REF, params="{}")
    await acquire(store)
    assert await store.pause(REF) == Controlled("running")
    assert (await inst(store))["pause"] == "1"
    assert await store.renew(REF, fence="1", ttl_ms=5000) == Renewed(pause_requested=True)
    assert await suspend(store) == Released(Tag.PAUSED, None)
    state = await inst(store)
    assert state["status"] == "paused" and "job" not in state
    assert await store.resume(REF) == Controlled("paused")
    assert (await inst(store))["status"] == "queued"


async def test_reap_recovers_an_expired_lease_and_bumps_the_fence(store: Store) -> None:
    await store.create(REF, params="{}")
    await acquire(store, owner="dead", ttl_ms=1)
    ikey = keys.instance_key(store.space(REF), "wf", "i1")
    await reply(store.redis.hset(ikey, "lease", "1"))
    await store.redis.zadd(keys.leases_key(store.space(REF)), {"wf/i1": 1})
    assert await store.reap() == Reaped(recovered=1, expired=0)
    state = await inst(store)
    assert (state["status"], state["fence"]) == ("queued", "2")
    assert keys.parse_job_id(store.settings.prefix, state["job"]) == ("wf", "i1")


async def test_send_event_dedupes_by_id_and_wakes_a_waiting_instance(store: Store) -> None:
    await store.create(REF, params="{}")
    await acquire(store)
    released = await suspend(store)
    assert isinstance(released, Released) and released.status == Tag.WAITING
    assert (await inst(store))["status"] == "waiting"
    head = '{"id":"e1","t":"go"'
    first = await store.send_event(REF, head=head, payload="[]", event_id="e1")
    again = await store.send_event(REF, head=head, payload="[]", event_id="e1")
    before = {"status": "waiting", "run": "0", "output": "", "error": ""}
    assert first == EventStored(duplicate=False, before=before)
    assert again == EventStored(duplicate=True, before={**before, "status": "queued"})
    state = await inst(store)
    assert (state["status"], state["evn"]) == ("queued", "1")
    events = await reply(store.redis.hgetall(keys.events_key(store.space(REF), "wf", "i1", 0)))
    assert events[b"1:p"] == b"[]"


async def test_wait_event_consumes_only_events_created_before_the_deadline(store: Store) -> None:
    await store.create(REF, params="{}")
    await store.send_event(REF, head='{"id":"e1","t":"go"', payload='{"n":1}', event_id="")
    await acquire(store)
    res = await wait(store, "w", 0)
    assert isinstance(res, WaitResolved) and res.outcome == Tag.TIMEOUT  # the event came later
    res = await wait(store, "w2", 10**13)
    assert isinstance(res, WaitResolved) and res.outcome == Tag.EVENT
    assert json.loads(res.record)["r"]["payload"] == {"n": 1}
    res = await wait(store, "w3", 10**13)
    assert isinstance(res, WaitResolved) and res.outcome == Tag.WAIT


async def test_restart_opens_a_new_run_and_persists_old_keys(store: Store) -> None:
    await store.create(REF, params="{}")
    await terminate(store)
    ttl = await store.redis.pttl(keys.instance_key(store.space(REF), "wf", "i1"))
    assert ttl > 0
    assert await store.restart(REF, token="tok2", answer_ttl_ms=1000) == Restarted(1)
    assert await store.redis.pttl(keys.instance_key(store.space(REF), "wf", "i1")) == -1
    state = await inst(store)
    assert (state["status"], state["run"]) == ("queued", "1")


async def test_retry_step_compares_and_sets_the_step_record(store: Store) -> None:
    await store.create(REF, params="{}")
    await acquire(store)
    rec = step(StepStatus.ERRORED, attempt=1)
    await save(store, rec)
    finished = await store.finish(
        REF, fence="1", run=0, outcome="errored", value='{"name":"E","message":"m"}',
        log_lines="", log_count=0,
    )  # fmt: skip
    assert finished == Finished()
    head = StepRecord.decode(rec).reopened().retry_head()
    assert await retry(store, "other", head) == Conflict()
    res = await retry(store, rec, head)
    assert isinstance(res, Reopened) and json.loads(res.record)["m"] == 2
    assert (await inst(store))["status"] == "waiting"


async def test_finished_instances_expire_and_leave_the_indexes(
    redis: Any, settings: Settings
) -> None:
    from dataclasses import replace

    store = Store(redis, replace(settings, retention_ms=50))
    await store.create(REF, params="{}")
    await terminate(store)
    index = keys.workflow_index_key(store.space(REF), "wf")
    assert await redis.zcard(index) == 1

    async def expired() -> bool:  # once the 50 ms retention is over (in Redis time)
        return await store.reap() == Reaped(recovered=0, expired=1)

    await assert_eventually(expired)
    assert await redis.zcard(index) == 0
    assert await redis.exists(keys.instance_key(store.space(REF), "wf", "i1")) == 0


async def test_an_instance_due_to_expire_but_not_expired_yet_stays_in_the_expiry_set(
    store: Store,
) -> None:
    # the expiry set's score and the keys' own expiry fall in the same millisecond: a reap in
    # that millisecond finds the entry due while the keys still exist, and must look again
    await store.create(REF, params="{}")
    await terminate(store)
    expiry = keys.expiry_key(store.space(REF))
    ikey = keys.instance_key(store.space(REF), "wf", "i1")
    await reply(store.redis.zadd(expiry, {"wf/i1": 0}))  # due, its keys not expired yet
    assert await store.reap() == Reaped(recovered=0, expired=0)
    assert await store.redis.zscore(expiry, "wf/i1") is not None  # kept, due again later
    await reply(store.redis.delete(ikey))  # now expired
    await reply(store.redis.zadd(expiry, {"wf/i1": 0}))
    assert await store.reap() == Reaped(recovered=0, expired=1)
    index = keys.workflow_index_key(store.space(REF), "wf")
    assert await store.redis.zcard(index) == 0


async def test_reap_clears_the_arq_markers_of_a_dead_workers_job(store: Store) -> None:
    await store.create(REF, params="{}")
    job = (await inst(store))["job"]
    await store.redis.set(keys.arq_in_progress_key(job), b"1", px=86_400_000)
    await store.redis.set(keys.arq_retry_key(job), b"1", px=86_400_000)
    await acquire(store, job, owner="dead", ttl_ms=1)
    ikey = keys.instance_key(store.space(REF), "wf", "i1")
    await reply(store.redis.hset(ikey, "lease", "1"))
    await store.redis.zadd(keys.leases_key(store.space(REF)), {"wf/i1": 1})
    assert await store.reap() == Reaped(recovered=1, expired=0)
    assert await store.redis.exists(keys.arq_in_progress_key(job), keys.arq_retry_key(job)) == 0


async def test_read_answers_the_instance_and_the_record_of_its_current_step(store: Store) -> None:
    assert await store.read(REF) == NotFound()
    await store.create(REF, params="{}")
    await acquire(store)
    rec = step(StepStatus.COMPLETED, result=1)
    await save(store, rec)
    snapshot = await store.read(REF)
    assert isinstance(snapshot, Snapshot)
    assert (snapshot.instance["cur"], snapshot.current_step) == ("a", rec)


async def test_create_many_pipelines_creates_and_reports_existing_ids(store: Store) -> None:
    await store.create(REF, params='{"a":1}')
    made = await store.create_many([(REF, "{}"), (Ref("wf", "i2"), '{"b":2}')], version="7")
    assert [m.created for m in made] == [False, True]
    assert made[1].instance["params"] == '{"b":2}' and made[1].instance["version"] == "7"


async def test_calls_on_a_missing_instance_find_nothing(store: Store) -> None:
    assert await store.pause(REF) == NotFound()
    assert await store.resume(REF) == NotFound()
    assert await terminate(store) == NotFound()
    assert await store.restart(REF, token="t", answer_ttl_ms=1000) == NotFound()
    assert await retry(store, "", "") == NotFound()
    assert await store.send_event(REF, head='{"id":"e","t":"go"', payload="1", event_id="e") == (
        NotFound()
    )


async def test_an_ended_instance_refuses_control_calls_and_events(store: Store) -> None:
    await store.create(REF, params="{}")
    assert await terminate(store) == Controlled("queued")
    assert await store.pause(REF) == Terminal("terminated")
    assert await store.terminate(REF, token="other", answer_ttl_ms=1000) == Terminal("terminated")
    event = await store.send_event(REF, head='{"id":"e","t":"go"', payload="1", event_id="e")
    assert event == Terminal("terminated")
    assert await retry(store, "", "") == NotErrored("terminated")


async def test_a_full_run_refuses_new_steps(redis: Any, settings: Settings) -> None:
    store = Store(redis, settings)
    await store.create(REF, params="{}")
    await acquire(store)
    rec = step(StepStatus.COMPLETED, result=1)
    full = await store.save_step(
        REF, fence="1", run=0, key="a", record=rec, mode="commit", log_lines="", log_count=0,
        max_steps=0,
    )  # fmt: skip
    assert full == LimitReached()


async def test_a_suspension_due_now_queues_the_next_job(store: Store) -> None:
    await store.create(REF, params="{}")
    await acquire(store)
    released = await suspend(store, due_ms=0)
    assert isinstance(released, Released) and released.status == Tag.QUEUED
    assert released.job_id == (await inst(store))["job"]


def test_a_script_takes_exactly_its_named_arguments(store: Store) -> None:
    with pytest.raises(TypeError, match="renew"):
        store._arguments("renew", REF, {"fence": "1"})


def _listed(header: str, label: str) -> list[str]:
    """The names a script's header lists after `-- KEYS:` or `-- ARGV ...:` (continued on lines
    indented under it), without their notes in parentheses."""
    lines = header.splitlines()
    for i, line in enumerate(lines):
        found = re.match(rf"-- {label}[^:]*:(.*)", line)
        if found:
            text = found[1]
            for more in lines[i + 1 :]:
                if not more.startswith("--   "):
                    break
                text += " " + more[2:]
            text = re.sub(r"\([^)]*\)", "", text)
            return [name.strip() for name in text.split(",") if name.strip()]
    raise AssertionError(f"the header lists no {label}")


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_each_script_header_lists_its_keys_argv_and_replies(name: str) -> None:
    text = resources.files("durable").joinpath("lua", f"{name}.lua").read_text()
    header = "\n".join(line for line in text.splitlines() if line.startswith("--"))
    assert _listed(header, "KEYS") == list(SCRIPTS[name].keys)
    assert _listed(header, "ARGV") == list(SCRIPTS[name].argv)
    replies = header.split("-- Replies:", 1)[1]
    listed = set(re.findall(r"[{|]'(\w+)'", replies))
    assert listed <= {tag.value for tag in Tag}
    assert set(re.findall(r"return \{'(\w+)'", text)) <= listed


def test_every_script_file_is_registered() -> None:
    folder = resources.files("durable").joinpath("lua")
    files = {e.name.removesuffix(".lua") for e in folder.iterdir() if e.name.endswith(".lua")}
    assert files == {*SCRIPTS, "_lib", *INCLUDES, "_children", "_gate"}


async def test_runs_before_run0_are_not_walked(store: Store, redis: Any) -> None:
    """A ticker drops old runs and records the first one kept (`run0`); retention then walks
    only the kept runs, so a schedule's thousands of runs do not slow its terminate/restart."""
    await store.create(REF, params="{}")
    await store.open()
    space = store.space(REF)
    for token in ("t1", "t2"):
        await store.restart(REF, token=token, answer_ttl_ms=1000)
    dropped, kept = (keys.steps_key(space, REF.workflow, REF.instance_id, r) for r in (0, 1))
    await redis.hset(dropped, "x", "1")  # a run the ticker failed to delete: left alone
    await redis.hset(kept, "x", "1")
    await redis.hset(keys.instance_key(space, REF.workflow, REF.instance_id), "run0", "1")
    await terminate(store, "stop")
    assert await redis.pttl(dropped) == -1 and await redis.pttl(kept) > 0
