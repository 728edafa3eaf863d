"""The take script (a durable worker's one call to find and start work), the wake marker the
scripts signal, and the finishing scripts answering a retry: against a real Redis."""

from __future__ import annotations

import json
from typing import Any

import pytest

from durable import keys
from durable import store as store_module
from durable.replies import (
    Finished,
    ForeignJob,
    Leased,
    NothingDue,
    Reaped,
    Refused,
    Released,
    Tag,
    Taken,
)
from durable.settings import Settings
from durable.store import Ref, Store
from tests.helpers import reply

# script-level tests that take from the first partition: one Redis only (on the cluster pass,
# the worker tests run the take script in every partition)
pytestmark = [pytest.mark.timeout(30), pytest.mark.single_node]

A, B = Ref("wf", "a"), Ref("wf", "b")
FAR_MS = 10**13  # a wake-up that never comes during a test


@pytest.fixture
async def store(redis: Any, settings: Settings) -> Store:
    opened = Store(redis, settings)
    await opened.open()
    return opened


async def take(
    store: Store,
    token: str = "t",
    owner: str = "me",
    ttl_ms: int = 5000,
    count: int = 1,
    ahead_ms: int = 0,
) -> Any:
    return await store.take(owner=owner, ttl_ms=ttl_ms, token=token, count=count, ahead_ms=ahead_ms)


async def taken(store: Store, token: str = "t", owner: str = "me") -> Leased:
    found = await take(store, token, owner)
    assert isinstance(found, Taken) and len(found.leases) == 1, found
    return found.leases[0]


async def instance(store: Store, ref: Ref) -> dict[str, str]:
    raw = await reply(store.redis.hgetall(keys.instance_key(store.space(ref), *_names(ref))))
    return {k.decode(): v.decode() for k, v in raw.items()}


def _names(ref: Ref) -> tuple[str, str]:
    return ref.workflow, ref.instance_id


async def queue(store: Store) -> list[str]:
    return [j.decode() for j in await store.redis.zrange(keys.queue_key(store.space(A)), 0, -1)]


async def marker(store: Store) -> list[str]:
    return [j.decode() for j in await store.redis.zrange(keys.wake_key(store.space(A)), 0, -1)]


async def suspend(store: Store, ref: Ref, fence: str, due_ms: int) -> Any:
    return await store.release(
        ref, fence=fence, run=0, due_ms=due_ms, log_lines="", log_count=0, mode="suspend"
    )


async def test_take_leases_the_first_due_job_and_answers_its_run(store: Store) -> None:
    await store.create(A, params="{}")
    await store.create(B, params="{}")
    job = (await instance(store, A))["job"]
    got = await taken(store)
    assert (got.job_id, got.workflow, got.instance_id) == (job, "wf", "a")
    assert got.acquired.fence == "1" and got.acquired.steps == {}
    assert got.acquired.instance["status"] == "running"
    assert got.acquired.status_before == "queued"
    state = await instance(store, A)
    assert (state["status"], state["owner"], state["fence"]) == ("running", "me", "1")
    assert "job" not in state and "ajob" not in state
    assert job not in await queue(store)
    assert not await store.redis.exists(keys.arq_job_key(job))


async def test_take_answers_the_next_due_times_when_nothing_is_due(
    store: Store, settings: Settings
) -> None:
    empty = await take(store)
    assert isinstance(empty, NothingDue)
    assert (empty.next_due_ms, empty.chores_due_ms) == (-1, -1)
    await store.create(A, params="{}")
    got = await taken(store)
    due = got.acquired.now_ms + 60_000
    released = await suspend(store, A, got.acquired.fence, due)
    assert isinstance(released, Released) and released.status == Tag.WAITING
    found = await take(store, "t2")
    assert isinstance(found, NothingDue)
    # the sleep's job, and the watchdog a job keeps in the lease set until it is taken
    assert (found.next_due_ms, found.chores_due_ms) == (due, due + settings.lease_ttl_ms)


async def test_a_take_retried_after_a_lost_reply_answers_the_same_lease(store: Store) -> None:
    await store.create(A, params="{}")
    first = await taken(store, token="call-1")
    again = await taken(store, token="call-1")  # the same call, sent again
    assert (again.job_id, again.acquired.fence) == (first.job_id, first.acquired.fence)
    assert again.acquired.instance["owner"] == "me"
    assert isinstance(await take(store, token="call-2"), NothingDue)  # a new call: nothing due
    assert (await instance(store, A))["fence"] == "1"


async def test_an_acquire_by_the_same_worker_for_a_taken_job_is_not_a_retry(
    store: Store,
) -> None:
    """A take leaves no job on the lease, so the runner's acquire of the job its own release
    queued, raced by its own worker's take of it, is refused instead of running twice."""
    await store.create(A, params="{}")
    got = await taken(store)
    released = await suspend(store, A, got.acquired.fence, 0)
    assert isinstance(released, Released) and released.job_id is not None
    again = await taken(store, token="t2")
    assert again.job_id == released.job_id
    refused = await store.acquire(A, job_id=released.job_id, owner="me", ttl_ms=5000)
    assert refused == Refused(Tag.STALE)


async def test_take_leaves_a_job_a_plain_arq_worker_claimed(store: Store) -> None:
    await store.create(A, params="{}")
    job = (await instance(store, A))["job"]
    await store.redis.set(keys.arq_in_progress_key(job), "1")
    found = await take(store)
    assert isinstance(found, NothingDue) and 0 <= found.next_due_ms <= found.now_ms
    assert await queue(store) == [job]
    assert (await instance(store, A))["status"] == "queued"


async def test_take_drops_a_job_whose_instance_cannot_be_leased(store: Store) -> None:
    await store.create(A, params="{}")
    await store.terminate(A, token="x", answer_ttl_ms=1000)
    stale = keys.job_id(store.space(A), "wf", "a", 99)
    job = {"t": 1, "f": keys.ADVANCE_FUNCTION, "a": ["wf", "a"], "k": {}, "et": 0}
    await store.redis.set(keys.arq_job_key(stale), json.dumps(job))
    await store.redis.zadd(keys.queue_key(store.space(A)), {stale: 0})
    assert isinstance(await take(store), NothingDue)
    assert await queue(store) == []
    assert not await store.redis.exists(keys.arq_job_key(stale))


async def test_take_claims_a_job_of_another_function_for_arq(store: Store) -> None:
    other = "cron:send-report"
    job = {"t": 1, "f": "send_report", "a": [], "k": {}, "et": 0}
    await store.redis.set(keys.arq_job_key(other), json.dumps(job))
    await store.redis.zadd(keys.queue_key(store.space(A)), {other: 5})
    found = await take(store)
    assert found == ForeignJob(other, 5, Reaped(0, 0))
    assert await store.redis.exists(keys.arq_in_progress_key(other))
    assert isinstance(await take(store, "t2"), NothingDue)  # claimed: arq's run_job has it now


async def test_take_recovers_an_expired_lease_and_takes_the_instance(store: Store) -> None:
    await store.create(A, params="{}")
    await taken(store, owner="dead")
    ikey = keys.instance_key(store.space(A), "wf", "a")
    await reply(store.redis.hset(ikey, "lease", "1"))  # the dead worker stopped renewing
    await store.redis.zadd(keys.leases_key(store.space(A)), {"wf/a": 1})
    found = await take(store, token="t2")
    assert isinstance(found, Taken) and found.reaped == Reaped(recovered=1, expired=0)
    got = found.leases[0]
    assert got.instance_id == "a" and got.acquired.fence == "3"  # recovery, then this lease
    assert (await instance(store, A))["owner"] == "me"


async def test_work_due_now_puts_one_member_per_job_on_the_wake_marker(store: Store) -> None:
    await store.create(A, params="{}")
    await store.create(B, params="{}")
    jobs = {(await instance(store, ref))["job"] for ref in (A, B)}
    assert set(await marker(store)) == jobs
    got = await taken(store)
    assert await marker(store) == [j for j in jobs if j != got.job_id]
    await store.pause(B)  # a dropped job leaves the marker too
    assert await marker(store) == []


async def test_a_later_wake_up_signals_only_when_it_becomes_the_queue_head(store: Store) -> None:
    await store.create(A, params="{}")
    await store.create(B, params="{}")
    first, second = await taken(store, "t1"), await taken(store, "t2")
    now = first.acquired.now_ms
    soon = await suspend(store, A, first.acquired.fence, now + 60_000)
    assert isinstance(soon, Released) and await marker(store) == [soon.job_id]  # the new head
    await store.redis.delete(keys.wake_key(store.space(A)))  # as a blocked worker pops it
    later = await suspend(store, B, second.acquired.fence, now + 120_000)
    assert isinstance(later, Released) and await marker(store) == []  # not the head: no wake-up


async def test_the_wake_marker_keeps_at_most_its_limit(
    redis: Any, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "WAKE_LIMIT", 3)
    small = Store(redis, settings)
    for n in range(5):
        await small.create(Ref("wf", f"i{n}"), params="{}")
    assert len(await marker(small)) == 3
    assert len(await queue(small)) == 5


async def test_a_finish_retried_after_a_lost_reply_answers_ok_again(store: Store) -> None:
    await store.create(A, params="{}")
    got = await taken(store)

    async def finish() -> Any:
        return await store.finish(
            A, fence=got.acquired.fence, run=0, outcome="complete", value="7", log_lines="",
            log_count=0,
        )  # fmt: skip

    assert await finish() == Finished()
    assert await finish() == Finished()  # the same call again: not a lost lease
    state = await instance(store, A)
    assert (state["status"], state["output"]) == ("complete", "7")


async def test_a_release_retried_after_a_lost_reply_answers_the_same(store: Store) -> None:
    await store.create(A, params="{}")
    got = await taken(store)
    fence, due = got.acquired.fence, got.acquired.now_ms + 60_000
    lines = '{"l":"info","m":"once"}'

    async def release() -> Any:
        return await store.release(
            A, fence=fence, run=0, due_ms=due, log_lines=lines, log_count=1, mode="suspend"
        )

    first = await release()
    assert isinstance(first, Released) and first.status == Tag.WAITING
    assert await release() == first
    logs = keys.logs_key(store.space(A), "wf", "a", 0)
    assert await reply(store.redis.llen(logs)) == 1  # its log line once


async def test_take_leases_up_to_count_due_jobs_in_one_call(store: Store) -> None:
    refs = [Ref("wf", f"n{n}") for n in range(5)]
    for ref in refs:
        await store.create(ref, params="{}")
    first = await take(store, "t1", count=3)
    assert isinstance(first, Taken) and [x.instance_id for x in first.leases] == ["n0", "n1", "n2"]
    assert first.next_due_ms <= first.now_ms  # more is due
    again = await take(store, "t1", count=3)  # the same call, retried: the same three leases
    assert isinstance(again, Taken)
    assert [(x.job_id, x.acquired.fence) for x in again.leases] == [
        (x.job_id, x.acquired.fence) for x in first.leases
    ]
    rest = await take(store, "t2", count=3)
    assert isinstance(rest, Taken) and [x.instance_id for x in rest.leases] == ["n3", "n4"]
    assert rest.next_due_ms == -1  # the queue is empty
    assert isinstance(await take(store, "t3", count=3), NothingDue)


async def test_take_leases_a_timer_due_within_ahead_ms_with_its_due_time(store: Store) -> None:
    await store.create(A, params="{}")
    got = await taken(store)
    due = got.acquired.now_ms + 50_000
    await suspend(store, A, got.acquired.fence, due)
    assert isinstance(await take(store, "t2", ahead_ms=0), NothingDue)
    early = await take(store, "t3", ahead_ms=60_000)
    assert isinstance(early, Taken)
    leased = early.leases[0].acquired
    assert leased.due_ms == due and leased.due_ms > leased.now_ms  # its worker waits the rest
    assert leased.status_before == "waiting"
