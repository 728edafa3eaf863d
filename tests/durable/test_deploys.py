"""Changing workflow code under running instances: the sequence check, recovery with
retry-failed-step, step.patched / deprecate_patch, and code versions per instance.

Workflows read `code`, a stand-in for the deployed code, at every replay: a test changes it
between two executions of one instance. In-process arq workers over a real Redis.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import datetime
from functools import partial
from typing import Any

import pytest
from redis.asyncio import Redis

from durable import NondeterminismError, workflow
from durable.client import Client
from durable.errors import ConfigurationError, InvalidStepError, ValidationError
from durable.keys import instance_key, status_index_key, versions_key, workflow_index_key
from durable.replies import Conflict, NotErrored, Reopened
from durable.runner import Runner
from durable.settings import Settings
from durable.store import Ref, Store
from tests.conftest import ClientFactory, WorkerPool
from tests.helpers import as_json, assert_eventually, reply, space_of

pytestmark = pytest.mark.timeout(60)

code: dict[str, Any] = {}
calls: dict[str, int] = {}
gates: dict[str, asyncio.Event] = {}


@pytest.fixture(autouse=True)
def _reset() -> None:
    code.clear()
    calls.clear()
    gates.clear()


def bump(name: str) -> int:
    calls[name] = calls.get(name, 0) + 1
    return calls[name]


async def start(workers: Any, client_factory: Any, *flows: Any) -> Client:
    await workers.start(list(flows))
    return client_factory(list(flows))  # type: ignore[no-any-return]


async def reaches(client: Client, wf: str, iid: str, *statuses: str) -> Any:
    async def check() -> Any:
        got = await client.get(wf, iid)
        return got if got.details.status in statuses else None

    return await assert_eventually(check, 10)


async def ended(client: Client, wf: str, iid: str) -> Any:
    return await reaches(client, wf, iid, "complete", "errored", "terminated")


async def step_keys(client: Client, wf: str, iid: str) -> list[str]:
    history = await client.history(wf, iid, order="asc", page_size=100)
    return [step.step_key for step in history.steps]


# -- the sequence check ------------------------------------------------------------------------


@workflow("order")
async def order(event: Any, step: Any) -> Any:
    await step.do("charge", lambda: bump("charge"))
    ship = code.get("ship", "ship")  # a deploy may rename this step, or remove it
    if not code.get("no-ship"):
        await step.do(ship, lambda: bump(ship))
    await step.wait_for_event("go", type="go", timeout="60 s")
    await step.do("label", lambda: bump("label"))
    return await step.do("notify", lambda: bump("notify"))


async def test_a_renamed_step_errors_the_instance_and_does_not_run(
    workers: WorkerPool, client_factory: ClientFactory
) -> None:
    client = await start(workers, client_factory, order)
    await client.create("order", instance_id="o1")
    await reaches(client, "order", "o1", "waiting")
    code["ship"] = "dispatch"
    await client.send_event("order", "o1", type="go")
    got = await ended(client, "order", "o1")
    error = got.details.error
    assert error.name == "NondeterminismError"
    assert "'dispatch'" in error.message and "'ship'" in error.message
    assert "'go'" in error.message  # every recorded step not reached is named
    assert calls == {"charge": 1, "ship": 1}
    assert await step_keys(client, "order", "o1") == ["charge", "ship", "go"]


async def test_after_a_fix_retry_failed_step_replays_the_run(
    workers: WorkerPool, client_factory: ClientFactory
) -> None:
    client = await start(workers, client_factory, order)
    await client.create("order", instance_id="o2")
    await reaches(client, "order", "o2", "waiting")
    code["ship"] = "dispatch"
    await client.send_event("order", "o2", type="go")
    await ended(client, "order", "o2")
    code.pop("ship")  # the fix: the recorded name again
    answer = await client.retry_failed_step("order", "o2")
    assert answer.retry.replay is True
    assert answer.retry.step_key is None and "stepKey" not in as_json(answer.retry)
    assert as_json(answer.instance.details) == {"status": "queued", "runNumber": 0}
    got = await ended(client, "order", "o2")
    assert got.details.status == "complete"
    assert calls == {"charge": 1, "ship": 1, "label": 1, "notify": 1}


async def test_a_replay_with_the_code_still_changed_errors_again(
    workers: WorkerPool, client_factory: ClientFactory
) -> None:
    client = await start(workers, client_factory, order)
    await client.create("order", instance_id="o3")
    await reaches(client, "order", "o3", "waiting")
    code["ship"] = "dispatch"
    await client.send_event("order", "o3", type="go")
    first = await ended(client, "order", "o3")
    await client.retry_failed_step("order", "o3", delay_ms=20)
    await assert_eventually(lambda: _updated_since(client, "o3", first.meta.updated_at))
    again = await ended(client, "order", "o3")
    assert as_json(again.details.error)["name"] == "NondeterminismError"
    assert calls == {"charge": 1, "ship": 1}


async def _updated_since(client: Client, iid: str, stamp: datetime) -> bool:
    got = await client.get("order", iid)
    return bool(got.details.status == "errored" and got.meta.updated_at > stamp)


async def test_a_removed_recorded_step_errors_at_the_next_new_step(
    workers: WorkerPool, client_factory: ClientFactory
) -> None:
    client = await start(workers, client_factory, order)
    await client.create("order", instance_id="o4")
    await reaches(client, "order", "o4", "waiting")
    code["no-ship"] = True
    await client.send_event("order", "o4", type="go")
    got = await ended(client, "order", "o4")
    message = as_json(got.details.error)["message"]
    assert as_json(got.details.error)["name"] == "NondeterminismError"
    assert "'label'" in message and "'ship'" in message and "'go'" not in message
    assert calls == {"charge": 1, "ship": 1}


@workflow("growing")
async def growing(event: Any, step: Any) -> Any:
    first = await step.do("first", lambda: bump("first"))
    await step.wait_for_event("go", type="go", timeout="60 s")
    if code.get("appended"):
        return [first, await step.do("appended", lambda: bump("appended"))]
    return [first]


async def test_a_step_appended_after_the_recorded_ones_runs_in_old_instances(
    workers: WorkerPool, client_factory: ClientFactory
) -> None:
    client = await start(workers, client_factory, growing)
    await client.create("growing", instance_id="g1")
    await reaches(client, "growing", "g1", "waiting")
    code["appended"] = True
    await client.send_event("growing", "g1", type="go")
    got = await ended(client, "growing", "g1")
    assert as_json(got.details) == {"status": "complete", "runNumber": 0, "output": [1, 1]}


async def test_a_changed_step_type_is_still_nondeterminism(
    workers: WorkerPool, client_factory: ClientFactory
) -> None:
    @workflow("retyped")
    async def retyped(event: Any, step: Any) -> Any:
        if code.get("sleep"):
            await step.sleep("first", "1 ms")
        else:
            await step.do("first", lambda: bump("first"))
        await step.wait_for_event("go", type="go", timeout="60 s")

    client = await start(workers, client_factory, retyped)
    await client.create("retyped", instance_id="t1")
    await reaches(client, "retyped", "t1", "waiting")
    code["sleep"] = True
    await client.send_event("retyped", "t1", type="go")
    got = await ended(client, "retyped", "t1")
    assert as_json(got.details.error)["name"] == "NondeterminismError"
    assert "'do'" in as_json(got.details.error)["message"]


# -- concurrent branches -----------------------------------------------------------------------


@workflow("fanout")
async def fanout(event: Any, step: Any) -> Any:
    names = code.get("fan", ["a", "b", "c"])
    results = await asyncio.gather(*(step.do(n, lambda n=n: bump(n)) for n in names))
    await step.wait_for_event("go", type="go", timeout="60 s")
    return results


async def test_a_renamed_member_of_a_gather_is_nondeterminism(
    workers: WorkerPool, client_factory: ClientFactory
) -> None:
    client = await start(workers, client_factory, fanout)
    await client.create("fanout", instance_id="f1")
    await reaches(client, "fanout", "f1", "waiting")
    code["fan"] = ["a", "b2", "c"]
    await client.send_event("fanout", "f1", type="go")
    got = await ended(client, "fanout", "f1")
    message = as_json(got.details.error)["message"]
    assert as_json(got.details.error)["name"] == "NondeterminismError"
    assert "'b2'" in message and "'b'" in message and "'c'" not in message
    assert calls == {"a": 1, "b": 1, "c": 1}


async def test_a_gather_replays_without_error_and_new_members_at_the_end_run(
    workers: WorkerPool, client_factory: ClientFactory
) -> None:
    client = await start(workers, client_factory, fanout)
    await client.create("fanout", instance_id="f2")
    await reaches(client, "fanout", "f2", "waiting")
    await client.send_event("fanout", "f2", type="go")
    got = await ended(client, "fanout", "f2")
    assert got.details.output == [1, 1, 1]


def gated(name: str) -> Any:
    async def fn() -> int:
        bump(f"{name}-started")
        await gates.setdefault(name, asyncio.Event()).wait()
        return bump(name)

    return fn


@workflow("branches")
async def branches(event: Any, step: Any) -> Any:
    async def left() -> list[int]:
        x = await step.do("x", gated("x"))
        return [x, await step.do("a", lambda: bump("a"))]

    async def right() -> int:
        return int(await step.do("b", gated("b")))

    return await asyncio.gather(left(), right())


async def test_branches_replayed_out_of_recorded_order_are_no_nondeterminism(
    workers: WorkerPool, client_factory: ClientFactory
) -> None:
    # Pausing between x and a records x then b; the replay reaches x and then the new step a
    # before the right branch has reached the recorded b.
    client = await start(workers, client_factory, branches)
    await client.create("branches", instance_id="b1")
    await assert_eventually(lambda: _true(calls.get("x-started") and calls.get("b-started")))
    await client.pause("branches", "b1")
    gates.setdefault("x", asyncio.Event()).set()
    await assert_eventually(lambda: _true(calls.get("x")))
    gates.setdefault("b", asyncio.Event()).set()
    await reaches(client, "branches", "b1", "paused")
    assert "a" not in calls
    assert await step_keys(client, "branches", "b1") == ["x", "b"]
    await client.resume("branches", "b1")
    got = await ended(client, "branches", "b1")
    assert as_json(got.details) == {"status": "complete", "runNumber": 0, "output": [[1, 1], 1]}
    assert calls["x"] == 1 and calls["b"] == 1


async def _true(value: Any) -> bool:
    return bool(value)


# -- step.patched and step.deprecate_patch ----------------------------------------------------


@workflow("receipts")
async def receipts(event: Any, step: Any) -> Any:
    await step.do("pay", lambda: bump("pay"))
    await step.wait_for_event("go", type="go", timeout="60 s")
    mode = code.get("receipt")
    if mode == "deprecated":
        step.deprecate_patch("pdf-receipt")
    if mode == "patched":
        pdf = await step.patched("pdf-receipt")
    else:  # the patch is retired (deprecated) or its check deleted (dropped)
        pdf = mode in ("deprecated", "dropped")
    if pdf:
        receipt = await step.do("pdf", lambda: bump("pdf"))
    else:
        receipt = await step.do("text", lambda: bump("text"))
    await step.wait_for_event("done", type="done", timeout="60 s")
    again = await step.patched("pdf-receipt") if mode == "patched" else None
    if mode in ("deprecated", "dropped"):  # later code also appends a step
        await step.do("archive", lambda: bump("archive"))
    return {"receipt": receipt, "again": again}


async def finish_receipts(client: Client, iid: str, *events: str) -> Any:
    for name in events:
        await client.send_event("receipts", iid, type=name)
    return await ended(client, "receipts", iid)


async def test_patched_keeps_old_runs_on_the_old_path(
    workers: WorkerPool, client_factory: ClientFactory
) -> None:
    client = await start(workers, client_factory, receipts)
    await client.create("receipts", instance_id="old")
    await client.send_event("receipts", "old", type="go")
    await assert_eventually(lambda: _true(calls.get("text")))
    await reaches(client, "receipts", "old", "waiting")
    code["receipt"] = "patched"
    got = await finish_receipts(client, "old", "done")
    assert got.details.output == {"receipt": 1, "again": False}
    assert "pdf" not in calls
    assert await step_keys(client, "receipts", "old") == ["pay", "go", "text", "done"]


async def test_patched_takes_the_new_path_where_the_run_has_not_been(
    workers: WorkerPool, client_factory: ClientFactory
) -> None:
    client = await start(workers, client_factory, receipts)
    await client.create("receipts", instance_id="mid")
    await reaches(client, "receipts", "mid", "waiting")  # before the patch, on old code
    code["receipt"] = "patched"
    got = await finish_receipts(client, "mid", "go", "done")
    assert got.details.output == {"receipt": 1, "again": True}
    assert "text" not in calls
    history = await client.history("receipts", "mid", order="asc")
    marker = history.steps[2]
    assert (marker.step_key, marker.name, marker.type) == (
        "pdf-receipt#patch",
        "pdf-receipt",
        "patch",
    )
    assert marker.status == "completed"
    assert [s.step_key for s in history.steps][3:] == ["pdf", "done"]


async def test_a_run_that_recorded_the_marker_needs_deprecate_patch_once_dropped(
    workers: WorkerPool, client_factory: ClientFactory
) -> None:
    client = await start(workers, client_factory, receipts)
    code["receipt"] = "patched"
    for iid in ("keep", "drop"):
        await client.create("receipts", instance_id=iid)
        await client.send_event("receipts", iid, type="go")
        await assert_eventually(partial(_waiting_at, client, iid, "done"))
    code["receipt"] = "dropped"  # the patch check deleted outright: the marker is unreached
    dropped = await finish_receipts(client, "drop", "done")
    assert as_json(dropped.details.error)["name"] == "NondeterminismError"
    assert "'pdf-receipt#patch'" in as_json(dropped.details.error)["message"]
    code["receipt"] = "deprecated"
    kept = await finish_receipts(client, "keep", "done")
    assert kept.details.output == {"receipt": 1, "again": None}
    await client.retry_failed_step("receipts", "drop")
    assert (await ended(client, "receipts", "drop")).details.status == "complete"
    assert calls["pdf"] == 2 and calls["archive"] == 2 and "text" not in calls


async def test_deprecate_patch_in_a_new_run_records_nothing(
    workers: WorkerPool, client_factory: ClientFactory
) -> None:
    client = await start(workers, client_factory, receipts)
    code["receipt"] = "deprecated"
    await client.create("receipts", instance_id="new")
    got = await finish_receipts(client, "new", "go", "done")
    assert got.details.status == "complete"
    assert await step_keys(client, "receipts", "new") == ["pay", "go", "pdf", "done", "archive"]


async def _waiting_at(client: Client, iid: str, key: str) -> bool:
    got = await client.get("receipts", iid)
    current = got.meta.current_step
    return bool(got.details.status == "waiting" and current and current.step_key == key)


@workflow("marked")
async def marked(event: Any, step: Any) -> Any:
    patched = await step.patched("fast-path")
    first = await step.do("first", lambda: bump("first"))
    second = await step.do("second", lambda: bump("second"))
    return [patched, first, second]


async def test_a_marker_uses_no_step_budget(settings: Settings, redis: Redis) -> None:
    store = Store(redis, settings)
    client = Client([marked], settings, redis=redis)
    await client.create("marked", instance_id="m1")
    ikey = instance_key(await space_of(client, "marked", "m1"), "marked", "m1")
    job = (await reply(redis.hget(ikey, "job")) or b"").decode()
    executions = await Runner(store, client.registry).advance(Ref("marked", "m1"), job, max_steps=1)
    got = await client.get("marked", "m1")
    assert got.details.output == [True, 1, 1]
    assert executions == 2  # marker and first, then second: the marker took no budget


async def test_patched_and_deprecate_patch_take_step_names_only(
    workers: WorkerPool, client_factory: ClientFactory
) -> None:
    @workflow("bad-patch")
    async def bad_patch(event: Any, step: Any) -> Any:
        try:
            await step.patched("no#hash")
        except InvalidStepError as exc:
            return str(exc)
        return "accepted"

    client = await start(workers, client_factory, bad_patch)
    await client.create("bad-patch", instance_id="x1")
    got = await ended(client, "bad-patch", "x1")
    assert "invalid change id 'no#hash'" in got.details.output


# -- code versions -----------------------------------------------------------------------------


def versioned(version: str | None) -> Any:
    async def fn(event: Any, step: Any) -> Any:
        return await step.wait_for_event("go", type="go", timeout="60 s")

    return workflow("versioned", version=version)(fn)


async def test_an_instance_records_the_version_that_created_it(settings: Settings) -> None:
    old, new, unnamed = (Client([versioned(v)], settings) for v in ("1", "2", None))
    try:
        await old.create("versioned", instance_id="v1")
        await new.create("versioned", instance_id="v2")
        await unnamed.create("versioned", instance_id="v0")
        await new.create_batch("versioned", [{"id": "v2b"}])
        assert (await old.get("versioned", "v1")).meta.version == "1"
        assert (await old.get("versioned", "v2")).meta.version == "2"
        assert (await old.get("versioned", "v2b")).meta.version == "2"
        assert (await old.get("versioned", "v0")).meta.version is None
    finally:
        for client in (old, new, unnamed):
            await client.aclose()


async def ids(client: Client, **filters: Any) -> list[str]:
    page = await client.list_instances("versioned", page_size=100, **filters)
    return sorted(item.id for item in page.instances)


async def test_instances_are_listed_by_version_and_status(settings: Settings) -> None:
    old, new = Client([versioned("1")], settings), Client([versioned("2")], settings)
    try:
        for iid in ("a", "b"):
            await old.create("versioned", instance_id=iid)
        await new.create("versioned", instance_id="c")
        await old.terminate("versioned", "b")
        assert await ids(old, version="1") == ["a", "b"]
        assert await ids(old, version="2") == ["c"]
        assert await ids(old, version="1", status="queued") == ["a"]
        assert await ids(old, version="1", status="terminated") == ["b"]
        assert await ids(old, version="3") == []
        await old.restart("versioned", "b")  # a restart keeps the version
        assert await ids(old, version="1", status="queued") == ["a", "b"]
        assert await ids(old) == ["a", "b", "c"]
    finally:
        await old.aclose()
        await new.aclose()


@pytest.mark.parametrize("bad", ["", "no spaces", ".dot", "x" * 65, 7])
async def test_a_bad_version_filter_is_a_validation_error(settings: Settings, bad: Any) -> None:
    client = Client([versioned("1")], settings)
    try:
        with pytest.raises(ValidationError) as caught:
            await client.list_instances("versioned", version=bad)
        assert caught.value.issues[0]["path"] == "version"
    finally:
        await client.aclose()


def test_a_bad_version_in_the_definition_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="invalid version"):
        versioned("1 0")


async def test_expired_instances_leave_the_version_indexes(
    settings: Settings, redis: Redis
) -> None:
    short = replace(settings, retention_ms=30)
    client = Client([versioned("7")], short, redis=redis)
    await client.create("versioned", instance_id="e1")
    await client.terminate("versioned", "e1")
    p = await space_of(client, "versioned", "e1")
    index, terminated = (
        workflow_index_key(p, "versioned", "7"),
        status_index_key(p, "versioned", "terminated", "7"),
    )
    assert await redis.zcard(index) == 1 and await redis.zcard(terminated) == 1

    async def reaped() -> bool:
        await client.store.reap()
        return not await redis.exists(index, terminated, versions_key(p, "versioned"))

    await assert_eventually(reaped)


# -- the retry_step script and the error ------------------------------------------------------


async def test_the_replay_form_of_retry_step_compares_the_error(
    settings: Settings, redis: Redis
) -> None:
    store = Store(redis, settings)
    ref = Ref("wf", "r1")
    await store.create(ref, params="{}")
    ikey = instance_key(await space_of(store, "wf", "r1"), "wf", "r1")
    error = json.dumps({"name": "NondeterminismError", "message": "m"})
    await reply(redis.hset(ikey, mapping={"status": "errored", "error": error, "completed": 1}))

    async def replay(expected: str) -> Any:
        return await store.retry_step(
            ref, key="", expected=expected, head="", delay_ms=0, answer="{", answer_ttl_ms=1
        )

    assert await replay("other") == Conflict()
    reopened = await replay(error)
    assert isinstance(reopened, Reopened) and reopened.record == ""
    fields = await reply(redis.hgetall(ikey))
    assert fields[b"status"] == b"queued"
    assert b"error" not in fields and b"completed" not in fields
    assert await replay(error) == NotErrored("queued")


def test_nondeterminism_error_keeps_its_old_constructor() -> None:
    old = NondeterminismError("k", "do", "sleep")
    assert (old.step_key, old.recorded_type, old.requested_type, old.unvisited) == (
        "k",
        "do",
        "sleep",
        (),
    )
    assert "'do'" in old.message and "'sleep'" in old.message


def test_nondeterminism_error_names_the_unvisited_steps() -> None:
    many = NondeterminismError("new", None, "do", unvisited=[f"s{n}" for n in range(8)])
    assert many.recorded_type is None and many.unvisited[0] == "s0"
    assert "'new'" in many.message and "'s4'" in many.message and "'s5'" not in many.message
    assert "and 3 more" in many.message


@workflow("twice")
async def twice(event: Any, step: Any) -> Any:
    return await asyncio.gather(step.patched("same"), step.patched("same"))


async def test_concurrent_calls_with_one_change_id_record_one_marker(
    workers: WorkerPool, client_factory: ClientFactory
) -> None:
    client = await start(workers, client_factory, twice)
    await client.create("twice", instance_id="w1")
    got = await ended(client, "twice", "w1")
    assert got.details.output == [True, True]
    assert await step_keys(client, "twice", "w1") == ["same#patch"]


async def test_a_repeated_replay_call_with_its_key_answers_like_the_first(
    workers: WorkerPool, client_factory: ClientFactory
) -> None:
    client = await start(workers, client_factory, order)
    await client.create("order", instance_id="o6")
    await reaches(client, "order", "o6", "waiting")
    code["ship"] = "dispatch"
    await client.send_event("order", "o6", type="go")
    await ended(client, "order", "o6")
    code.pop("ship")
    first = await client.retry_failed_step("order", "o6", idempotency_key="fix-1")
    await ended(client, "order", "o6")
    again = await client.retry_failed_step("order", "o6", idempotency_key="fix-1")
    assert again == first and first.retry.replay is True
    assert calls["notify"] == 1
