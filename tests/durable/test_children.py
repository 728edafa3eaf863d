"""Child workflows (step.invoke, step.start) against real Redis with in-process workers."""

from __future__ import annotations

from typing import Any

import pytest
from redis.asyncio import Redis

from durable import ChildWorkflowError, NonRetryableError, workflow
from durable.children import default_child_id
from durable.client import Client
from durable.errors import InvalidStepError
from durable.names import ID_MAX, valid_name
from durable.records import ParentRef, StepRecord
from durable.settings import Settings
from durable.store import Ref, Store
from tests.conftest import ClientFactory, WorkerPool
from tests.durable.test_engine import finished, reaches
from tests.helpers import assert_eventually

pytestmark = pytest.mark.timeout(60)

runs: dict[str, int] = {}


@pytest.fixture(autouse=True)
def _reset() -> None:
    runs.clear()


def bump(name: str) -> int:
    runs[name] = runs.get(name, 0) + 1
    return runs[name]


@workflow("kid")
async def kid(event: Any, step: Any) -> Any:
    bump(f"kid:{event.instance_id}")
    mode = event.payload.get("mode")
    if mode == "fail":
        await step.do("boom", _boom)
    if mode == "wait":
        await step.wait_for_event("hold", type="go")
    return {"doubled": event.payload.get("n", 0) * 2}


async def _boom() -> None:
    raise NonRetryableError("kid failed on purpose")


@workflow("mom")
async def mom(event: Any, step: Any) -> Any:
    bump("mom")
    out = await step.invoke("child", workflow="kid", params=event.payload.get("kid", {}))
    for n in range(event.payload.get("replays", 0)):
        await step.sleep(f"nap{n}", 1)
    return {"from_child": out}


@workflow("catcher")
async def catcher(event: Any, step: Any) -> Any:
    try:
        await step.invoke(
            "child", workflow=kid, params=event.payload, timeout=event.payload.get("timeout")
        )
    except ChildWorkflowError as exc:
        return {"name": exc.error_name, "message": exc.error_message, "child": exc.child_id}
    return "no error"


@workflow("starter")
async def starter(event: Any, step: Any) -> Any:
    attached = await step.start("one", workflow="kid", params={"mode": "wait"})
    detached = await step.start(
        "two", workflow="kid", params={"mode": "wait"}, id=f"{event.instance_id}-free",
        detached=True,
    )  # fmt: skip
    await step.wait_for_event("forever", type="never")
    return [attached, detached]


@workflow("clasher")
async def clasher(event: Any, step: Any) -> Any:
    return await step.invoke("child", workflow="kid", id="taken")


FLOWS = [kid, mom, catcher, starter, clasher]


async def start(workers: WorkerPool, client_factory: ClientFactory) -> Client:
    await workers.start(FLOWS)
    return client_factory(FLOWS)


async def child_of(client: Client, wf: str, iid: str, key: str = "child") -> tuple[str, str]:
    """The child of a step of the instance's current run, once that step is recorded."""

    async def check() -> Any:
        history = await client.history(wf, iid)
        return next((s for s in history.steps if s.step_key == key), None)

    step = await assert_eventually(check, 10)
    assert step.type == "invoke" and step.child is not None
    return step.child.workflow, step.child.id


async def test_invoke_returns_the_child_output(
    workers: WorkerPool, client_factory: ClientFactory
) -> None:
    client = await start(workers, client_factory)
    await client.create("mom", instance_id="m1", params={"kid": {"n": 21}})
    done = await finished(client, "mom", "m1")
    assert done.details.status == "complete"
    assert done.details.output == {"from_child": {"doubled": 42}}
    child_wf, child_id = await child_of(client, "mom", "m1")
    assert child_wf == "kid" and child_id == default_child_id(Ref("mom", "m1"), 0, "child")
    child = await client.get("kid", child_id)
    assert child.meta.parent is not None
    assert (child.meta.parent.workflow, child.meta.parent.id) == ("mom", "m1")


async def test_child_is_started_once_however_often_the_parent_replays(
    workers: WorkerPool, client_factory: ClientFactory
) -> None:
    client = await start(workers, client_factory)
    await client.create("mom", instance_id="m2", params={"kid": {"n": 1}, "replays": 5})
    done = await finished(client, "mom", "m2")
    assert done.details.status == "complete"
    _, child_id = await child_of(client, "mom", "m2")
    assert runs["mom"] >= 6
    assert runs[f"kid:{child_id}"] == 1


async def test_child_error_raises_child_workflow_error_in_the_parent(
    workers: WorkerPool, client_factory: ClientFactory
) -> None:
    client = await start(workers, client_factory)
    await client.create("catcher", instance_id="c1", params={"mode": "fail"})
    done = await finished(client, "catcher", "c1")
    assert done.details.output is not None
    assert done.details.output["name"] == "NonRetryableError"
    assert done.details.output["message"] == "kid failed on purpose"
    history = await client.history("catcher", "c1")
    step = history.steps[0]
    assert step.status == "errored" and step.error is not None
    assert step.error.name == "ChildWorkflowError"


async def test_uncaught_child_error_errors_the_parent(
    workers: WorkerPool, client_factory: ClientFactory
) -> None:
    client = await start(workers, client_factory)
    await client.create("mom", instance_id="m3", params={"kid": {"mode": "fail"}})
    done = await finished(client, "mom", "m3")
    assert done.details.status == "errored"
    assert done.details.error is not None and done.details.error.name == "ChildWorkflowError"


async def test_terminated_child_raises_in_the_parent(
    workers: WorkerPool, client_factory: ClientFactory
) -> None:
    client = await start(workers, client_factory)
    await client.create("catcher", instance_id="c2", params={"mode": "wait"})
    await reaches(client, "catcher", "c2", "waiting")
    _, child_id = await child_of(client, "catcher", "c2")
    await reaches(client, "kid", child_id, "waiting")
    await client.terminate("kid", child_id)
    done = await finished(client, "catcher", "c2")
    assert done.details.output == {
        "name": "Terminated",
        "message": "the child workflow was terminated",
        "child": child_id,
    }


async def test_invoke_timeout_raises_and_terminates_the_child(
    workers: WorkerPool, client_factory: ClientFactory
) -> None:
    client = await start(workers, client_factory)
    await client.create("catcher", instance_id="c3", params={"mode": "wait", "timeout": 300})
    done = await finished(client, "catcher", "c3")
    assert done.details.output is not None
    assert done.details.output["name"] == "ChildWorkflowTimeoutError"
    child = await finished(client, "kid", done.details.output["child"])
    assert child.details.status == "terminated"


async def test_terminating_the_parent_terminates_attached_children_only(
    workers: WorkerPool, client_factory: ClientFactory
) -> None:
    client = await start(workers, client_factory)
    await client.create("starter", instance_id="s1")
    await reaches(client, "starter", "s1", "waiting")
    _, attached = await child_of(client, "starter", "s1", "one")
    await reaches(client, "kid", attached, "waiting")
    await reaches(client, "kid", "s1-free", "waiting")
    history = await client.history("starter", "s1")
    results = {s.step_key: s.result for s in history.steps}
    assert (results["one"], results["two"]) == (attached, "s1-free")
    await client.terminate("starter", "s1")
    assert (await finished(client, "kid", attached)).details.status == "terminated"
    assert (await client.get("kid", "s1-free")).details.status == "waiting"


async def test_a_taken_id_is_refused(workers: WorkerPool, client_factory: ClientFactory) -> None:
    client = await start(workers, client_factory)
    await client.create("kid", instance_id="taken")
    await client.create("clasher", instance_id="x1")
    done = await finished(client, "clasher", "x1")
    assert done.details.status == "errored" and done.details.error is not None
    assert done.details.error.name == InvalidStepError.__name__
    assert "taken" in done.details.error.message


async def test_an_outcome_left_undelivered_is_swept(
    settings: Settings, redis: Redis, workers: WorkerPool, client_factory: ClientFactory
) -> None:
    """A crash between the child's end and the delivery to its parent: the entry stays in the
    outbox, and a worker's take carries it over a lease TTL later."""
    client = await start(workers, client_factory)
    await client.create("catcher", instance_id="c4", params={"mode": "wait"})
    await reaches(client, "catcher", "c4", "waiting")
    _, child_id = await child_of(client, "catcher", "c4")
    await reaches(client, "kid", child_id, "waiting")
    store = Store(redis, settings)
    reply = await store.terminate(Ref("kid", child_id), token="t", answer_ttl_ms=0)  # no carry
    assert reply.outbox  # type: ignore[union-attr]
    done = await finished(client, "catcher", "c4", timeout=30)
    assert done.details.output is not None and done.details.output["name"] == "Terminated"


def test_default_child_ids_follow_the_name_rules() -> None:
    short = default_child_id(Ref("wf", "parent"), 2, "step#1")
    long = default_child_id(Ref("wf", "p" * 120), 0, "child")
    assert valid_name(short, ID_MAX) and valid_name(long, ID_MAX)
    assert short.startswith("child:") and long.startswith("child:")
    plain = default_child_id(Ref("wf", "parent"), 2, "child")
    assert plain.startswith("parent:2:child:")
    assert plain != default_child_id(Ref("other", "parent"), 2, "child")
    assert plain != default_child_id(Ref("wf", "parent"), 3, "child")


def test_step_records_keep_their_child() -> None:
    raw = '{"s":"waiting","n":"c","t":"invoke","q":1,"ch":{"w":"kid","i":"k1","d":true}}'
    rec = StepRecord.decode(raw)
    assert rec.child is not None and rec.child.detached and rec.child.member == "kid/k1"
    assert StepRecord.decode(rec.encode()) == rec


async def test_a_child_created_before_a_crash_is_not_created_again(
    settings: Settings, redis: Redis, workers: WorkerPool, client_factory: ClientFactory
) -> None:
    """The parent's worker died after creating the child and before recording its step: the
    replay finds the child there, made by this step, and waits for it."""
    store = Store(redis, settings)
    client = client_factory(FLOWS)
    await client.create("mom", instance_id="m4", params={"kid": {"n": 5}})
    child_id = default_child_id(Ref("mom", "m4"), 0, "child")
    parent = ParentRef("mom", "m4", 0, "child")
    made = await store.create(
        Ref("kid", child_id), params='{"n":5}', parent=parent.encode(), awaited=True
    )
    assert made.created
    await workers.start(FLOWS)
    done = await finished(client, "mom", "m4")
    assert done.details.output == {"from_child": {"doubled": 10}}
    assert runs[f"kid:{child_id}"] == 1
    assert len((await client.list_instances("kid")).instances) == 1


@workflow("granny")
async def granny(event: Any, step: Any) -> Any:
    return await step.invoke("child", workflow="mom", params={"kid": {"mode": "wait"}})


async def test_terminating_cascades_down_every_generation(
    workers: WorkerPool, client_factory: ClientFactory
) -> None:
    await workers.start([*FLOWS, granny])
    client = client_factory([*FLOWS, granny])
    await client.create("granny", instance_id="g1")
    await reaches(client, "granny", "g1", "waiting")
    _, mom_id = await child_of(client, "granny", "g1")
    await reaches(client, "mom", mom_id, "waiting")
    _, kid_id = await child_of(client, "mom", mom_id)
    await reaches(client, "kid", kid_id, "waiting")
    await client.terminate("granny", "g1")
    assert (await finished(client, "mom", mom_id)).details.status == "terminated"
    assert (await finished(client, "kid", kid_id)).details.status == "terminated"


@pytest.mark.parametrize("how", ["restart", "bulk-terminate"])
async def test_restarting_or_bulk_terminating_the_parent_terminates_its_child(
    workers: WorkerPool, client_factory: ClientFactory, how: str
) -> None:
    client = await start(workers, client_factory)
    await client.create("catcher", instance_id="c5", params={"mode": "wait"})
    await reaches(client, "catcher", "c5", "waiting")
    _, child_id = await child_of(client, "catcher", "c5")
    await reaches(client, "kid", child_id, "waiting")
    if how == "restart":
        await client.restart("catcher", "c5")
    else:
        await client.bulk("catcher", "terminate", status="waiting")
    assert (await finished(client, "kid", child_id)).details.status == "terminated"
    if how == "restart":  # the new run starts a child of its own
        _, fresh = await child_of(client, "catcher", "c5")
        assert fresh != child_id
        assert (await reaches(client, "kid", fresh, "waiting")).meta.parent.id == "c5"
