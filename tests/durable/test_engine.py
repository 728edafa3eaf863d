"""Engine semantics, one behaviour per test, against real Redis with in-process arq workers."""

from __future__ import annotations

import asyncio
import itertools
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis as sync_redis
from redis.asyncio import Redis

from durable import (
    NondeterminismError,
    NonRetryableError,
    StepContext,
    StepFailedError,
    WaitForEventTimeoutError,
    workflow,
)
from durable.client import Client
from durable.errors import InstanceTerminalError, SuspendExecution
from durable.models import Instance
from durable.settings import Settings
from tests.conftest import REDIS_URL, ClientFactory, WorkerPool
from tests.helpers import as_json, assert_eventually, reply, space_of

pytestmark = pytest.mark.timeout(60)

calls: dict[str, int] = {}
times: dict[str, list[float]] = {}


@pytest.fixture(autouse=True)
def _reset() -> None:
    calls.clear()
    times.clear()


def redis_now_ms() -> float:
    with sync_redis.Redis.from_url(REDIS_URL) as conn:
        seconds, micros = conn.time()
    return float(seconds * 1000 + micros / 1000)


def idle(workers: WorkerPool) -> bool:
    """No job claimed or running in any of the in-process workers."""
    return all(worker.job_counter == 0 for worker, _ in workers.workers)


def bump(name: str) -> int:
    calls[name] = calls.get(name, 0) + 1
    return calls[name]


async def finished(client: Client, wf: str, iid: str, timeout: float = 10) -> Instance:
    async def check() -> Any:
        got = await client.get(wf, iid)
        return got if got.details.status in ("complete", "errored", "terminated") else None

    return await assert_eventually(check, timeout)  # type: ignore[no-any-return]


async def reaches(client: Client, wf: str, iid: str, status: str, timeout: float = 10) -> Any:
    async def check() -> Any:
        got = await client.get(wf, iid)
        return got if got.details.status == status else None

    return await assert_eventually(check, timeout)


async def start(workers: Any, client_factory: Any, *flows: Any) -> Client:
    await workers.start(list(flows))
    return client_factory(list(flows))  # type: ignore[no-any-return]


@workflow("cached")
async def cached(event: Any, step: Any) -> Any:
    a = await step.do("a", lambda: bump("a"))
    await step.sleep("nap", "30 ms")
    b = await step.do("b", lambda: bump("b"))
    return [a, b]


async def test_recorded_steps_are_not_rerun_after_a_suspension(
    workers: WorkerPool, client_factory: ClientFactory
) -> None:
    client = await start(workers, client_factory, cached)
    await client.create("cached", instance_id="i1")
    got = await finished(client, "cached", "i1")
    assert as_json(got.details) == {"status": "complete", "runNumber": 0, "output": [1, 1]}
    assert calls == {"a": 1, "b": 1}


def backoff_flow(name: str, backoff: str) -> Any:
    async def fn(event: Any, step: Any) -> Any:
        def flaky() -> str:
            times.setdefault(name, []).append(redis_now_ms())
            if bump(name) < 4:
                raise RuntimeError("not yet")
            return "done"

        retries = {"limit": 3, "delay": "60 ms", "backoff": backoff}
        return await step.do("flaky", flaky, retries=retries)

    return workflow(name)(fn)


@pytest.mark.parametrize(
    ("backoff", "gaps"),
    [("constant", [60, 60, 60]), ("linear", [60, 120, 180]), ("exponential", [60, 120, 240])],
)
async def test_retries_wait_the_backoff_between_attempts(
    workers: WorkerPool, client_factory: ClientFactory, backoff: str, gaps: list[int]
) -> None:
    flow = backoff_flow(f"retry-{backoff}", backoff)
    client = await start(workers, client_factory, flow)
    await client.create(flow.name, instance_id="r1")
    got = await finished(client, flow.name, "r1")
    assert got.details.output == "done"
    # Attempts are stamped with Redis TIME, the clock retries are scheduled by: none came early.
    stamps = times[flow.name]
    measured = [b - a for a, b in itertools.pairwise(stamps)]
    assert len(measured) == 3
    for seen, expected in zip(measured, gaps, strict=True):
        assert seen >= expected - 5, (measured, gaps)
    history = await client.history(flow.name, "r1")
    step = history.steps[0]
    assert (step.attempts, step.max_attempts, step.status) == (4, 4, "completed")


@workflow("exhausted")
async def exhausted(event: Any, step: Any) -> Any:
    def always() -> None:
        bump("always")
        raise ValueError("boom")

    try:
        await step.do("always", always, retries={"limit": 2, "delay": 10})
    except StepFailedError as exc:
        return {"caught": exc.name, "message": exc.message}
    return None


async def test_a_step_out_of_attempts_raises_its_error_into_the_workflow(
    workers: WorkerPool, client_factory: ClientFactory
) -> None:
    client = await start(workers, client_factory, exhausted)
    await client.create("exhausted", instance_id="e1")
    got = await finished(client, "exhausted", "e1")
    assert got.details.output == {"caught": "ValueError", "message": "boom"}
    assert calls["always"] == 3
    step = (await client.history("exhausted", "e1")).steps[0]
    assert step.status == "errored"
    assert as_json(step.error) == {"name": "ValueError", "message": "boom"}


@workflow("nonretryable")
async def nonretryable(event: Any, step: Any) -> Any:
    def refuse() -> None:
        bump("refuse")
        raise NonRetryableError("card declined", name="CardDeclined")

    return await step.do("charge", refuse, retries={"limit": 5, "delay": 10})


async def test_non_retryable_error_fails_the_step_at_once(
    workers: WorkerPool, client_factory: ClientFactory
) -> None:
    client = await start(workers, client_factory, nonretryable)
    await client.create("nonretryable", instance_id="n1")
    got = await finished(client, "nonretryable", "n1")
    assert got.details.status == "errored"
    assert as_json(got.details.error) == {"name": "CardDeclined", "message": "card declined"}
    assert calls["refuse"] == 1


@workflow("timeouts")
async def timeouts(event: Any, step: Any) -> Any:
    async def slow() -> str:
        bump("slow")
        try:
            await asyncio.sleep(5)  # a step that overruns its timeout: the scenario
        except asyncio.CancelledError:
            bump("cancelled")
            raise
        return "late"

    return await step.do("slow", slow, timeout="100 ms", retries={"limit": 1, "delay": 10})


async def test_step_timeout_cancels_the_attempt_and_is_retryable(
    workers: WorkerPool, client_factory: ClientFactory
) -> None:
    client = await start(workers, client_factory, timeouts)
    await client.create("timeouts", instance_id="t1")
    got = await finished(client, "timeouts", "t1")
    assert got.details.status == "errored"
    assert as_json(got.details.error)["name"] == "StepTimeoutError"
    assert calls == {"slow": 2, "cancelled": 2}
    step = (await client.history("timeouts", "t1")).steps[0]
    assert (step.attempts, step.timeout_ms) == (2, 100)


@workflow("buffered")
async def buffered(event: Any, step: Any) -> Any:
    await step.sleep("first", "200 ms")
    got = await step.wait_for_event("wait", type="go", timeout="5 s")
    return got.payload


async def test_an_event_sent_before_the_wait_is_buffered(
    workers: WorkerPool, client_factory: ClientFactory
) -> None:
    client = await start(workers, client_factory, buffered)
    await client.create("buffered", instance_id="b1")
    await client.send_event("buffered", "b1", type="go", payload={"early": True})
    got = await finished(client, "buffered", "b1")
    assert got.details.output == {"early": True}


@workflow("ordered")
async def ordered(event: Any, step: Any) -> Any:
    first = await step.wait_for_event("one", type="item", timeout="5 s")
    second = await step.wait_for_event("two", type="item", timeout="5 s")
    return [first.payload, second.payload]


async def test_events_of_a_type_are_consumed_oldest_first(
    workers: WorkerPool, client_factory: ClientFactory
) -> None:
    client = await start(workers, client_factory, ordered)
    await client.create("ordered", instance_id="o1")
    for n in (1, 2, 3):
        await client.send_event("ordered", "o1", type="item", payload=n)
    got = await finished(client, "ordered", "o1")
    assert got.details.output == [1, 2]
    events = (await client.history("ordered", "o1", order="asc")).events
    assert [e.consumed_by_step_key for e in events] == ["one", "two", None]


@workflow("deadline")
async def deadline(event: Any, step: Any) -> Any:
    await step.wait_for_event("wait", type="late", timeout="150 ms")
    return "never"


async def test_an_event_after_the_deadline_does_not_satisfy_the_wait(
    workers: WorkerPool, client_factory: ClientFactory
) -> None:
    client = await start(workers, client_factory, deadline)
    await client.create("deadline", instance_id="d1")
    got = await finished(client, "deadline", "d1")
    assert as_json(got.details.error)["name"] == "WaitForEventTimeoutError"
    with pytest.raises(InstanceTerminalError):
        await client.send_event("deadline", "d1", type="late")


@workflow("caught-timeout")
async def caught_timeout(event: Any, step: Any) -> Any:
    try:
        await step.wait_for_event("wait", type="x", timeout="100 ms")
    except WaitForEventTimeoutError:
        return "timed out"
    return "got it"


async def test_a_caught_wait_timeout_lets_the_workflow_continue(
    workers: WorkerPool, client_factory: ClientFactory
) -> None:
    client = await start(workers, client_factory, caught_timeout)
    await client.create("caught-timeout", instance_id="c1")
    got = await finished(client, "caught-timeout", "c1")
    assert got.details.output == "timed out"


@workflow("sleeper")
async def sleeper(event: Any, step: Any) -> Any:
    begin = await step.do("begin", time.time)
    await step.sleep("nap", timedelta(milliseconds=300))
    await step.sleep_until("past", datetime(2020, 1, 1, tzinfo=UTC))
    end = await step.do("end", time.time)
    return end - begin


async def test_sleep_waits_its_duration_and_a_past_sleep_until_passes(
    workers: WorkerPool, client_factory: ClientFactory
) -> None:
    client = await start(workers, client_factory, sleeper)
    await client.create("sleeper", instance_id="s1")
    got = await finished(client, "sleeper", "s1")
    steps = {s.step_key: s for s in (await client.history("sleeper", "s1")).steps}
    assert steps["nap"].type == "sleep" and steps["nap"].status == "completed"
    # Recorded in Redis time: the step after the nap began no earlier than 300 ms after it.
    nap = steps["nap"]
    assert nap.wake_at is not None and got.meta.completed_at is not None
    assert nap.wake_at - nap.created_at >= timedelta(milliseconds=300)
    assert steps["end"].created_at >= nap.wake_at
    assert got.meta.completed_at >= nap.wake_at
    assert steps["past"].wake_at == datetime(2020, 1, 1, tzinfo=UTC)


@workflow("parallel")
async def parallel(event: Any, step: Any) -> Any:
    running: set[int] = set()
    all_running = asyncio.Event()

    async def slow(n: int) -> int:
        running.add(n)
        if len(running) == 3:
            all_running.set()
        # Each step waits for the other two to start: one after another, they never would.
        await asyncio.wait_for(all_running.wait(), 10)
        return n

    results = await asyncio.gather(
        step.do("p1", lambda: slow(1)),
        step.do("p2", lambda: slow(2)),
        step.do("p3", lambda: slow(3)),
    )
    return {"results": results}


async def test_gathered_steps_run_concurrently(
    workers: WorkerPool, client_factory: ClientFactory
) -> None:
    client = await start(workers, client_factory, parallel)
    await client.create("parallel", instance_id="p1")
    got = await finished(client, "parallel", "p1", timeout=20)
    assert as_json(got.details) == {
        "status": "complete",
        "runNumber": 0,
        "output": {"results": [1, 2, 3]},
    }


@workflow("gated")
async def gated(event: Any, step: Any) -> Any:
    await step.wait_for_event("gate", type="open", timeout="10 s")
    return await step.do("after", lambda: bump("after"))


@workflow("canary")
async def canary(event: Any, step: Any) -> Any:
    return await step.do("sing", lambda: "tweet")


async def test_pause_and_resume_a_waiting_instance(
    workers: WorkerPool, client_factory: ClientFactory
) -> None:
    client = await start(workers, client_factory, gated, canary)
    await client.create("gated", instance_id="g1")
    await reaches(client, "gated", "g1", "waiting")
    await client.pause("gated", "g1")
    assert (await client.get("gated", "g1")).details.status == "paused"
    await client.send_event("gated", "g1", type="open")
    # A job the event (wrongly) queued for g1 would come before the canary's: once the canary
    # has finished and the worker runs nothing, it would have run.
    await client.create("canary", instance_id="c1")
    await finished(client, "canary", "c1")
    await assert_eventually(lambda: _true(idle(workers)))
    assert (await client.get("gated", "g1")).details.status == "paused"
    assert calls == {}
    await client.resume("gated", "g1")
    got = await finished(client, "gated", "g1")
    assert got.details.output == 1


@workflow("long-step")
async def long_step(event: Any, step: Any) -> Any:
    async def slow() -> str:
        bump("slow")
        await asyncio.sleep(0.5)  # a step that is running while the test acts on it
        return "slow done"

    first = await step.do("slow", slow)
    second = await step.do("next", lambda: bump("next"))
    return [first, second]


async def test_pause_while_running_takes_effect_at_the_next_step_boundary(
    workers: WorkerPool, client_factory: ClientFactory
) -> None:
    client = await start(workers, client_factory, long_step)
    await client.create("long-step", instance_id="l1")
    await assert_eventually(lambda: _true(calls.get("slow")))
    await client.pause("long-step", "l1")
    assert (await client.get("long-step", "l1")).meta.pause_requested is True
    paused = await reaches(client, "long-step", "l1", "paused")
    assert paused.meta.current_step.step_key == "slow"
    assert paused.meta.current_step.status == "completed"
    assert "next" not in calls
    await client.resume("long-step", "l1")
    got = await finished(client, "long-step", "l1")
    assert got.details.output == ["slow done", 1]
    assert calls == {"slow": 1, "next": 1}


async def _true(value: Any) -> Any:
    return value


async def test_terminate_discards_the_running_step_result(
    workers: WorkerPool, client_factory: ClientFactory
) -> None:
    client = await start(workers, client_factory, long_step)
    await client.create("long-step", instance_id="l2")
    await assert_eventually(lambda: _true(calls.get("slow")))
    await client.terminate("long-step", "l2")
    # The slow step finishes and its write is refused; then its job ends and the worker idles.
    await assert_eventually(lambda: _true(idle(workers)))
    got = await client.get("long-step", "l2")
    assert got.details.status == "terminated"
    steps = (await client.history("long-step", "l2")).steps
    assert [s.status for s in steps] in ([], ["running"])  # never "completed"
    assert "next" not in calls
    with pytest.raises(InstanceTerminalError):
        await client.pause("long-step", "l2")


async def test_restart_starts_a_new_run_and_keeps_the_old_one(
    workers: WorkerPool, client_factory: ClientFactory
) -> None:
    client = await start(workers, client_factory, cached)
    await client.create("cached", instance_id="re1", params={"x": 1})
    await finished(client, "cached", "re1")
    await client.restart("cached", "re1")
    got = await finished(client, "cached", "re1")
    assert as_json(got.details) == {"status": "complete", "runNumber": 1, "output": [2, 2]}
    assert got.meta.params == {"x": 1}
    old = await client.history("cached", "re1", run_number=0)
    assert [s.result for s in old.steps if s.type == "do"] == [1, 1]
    assert len(old.steps) == 3 and old.run_number == 0


@workflow("fails-once")
async def fails_once(event: Any, step: Any) -> Any:
    a = await step.do("a", lambda: bump("a"))

    def flaky() -> str:
        if bump("flaky") == 1:
            raise RuntimeError("first time fails")
        return "ok"

    return [a, await step.do("flaky", flaky)]


async def test_retry_failed_step_continues_the_same_run(
    workers: WorkerPool, client_factory: ClientFactory
) -> None:
    client = await start(workers, client_factory, fails_once)
    await client.create("fails-once", instance_id="f1")
    got = await finished(client, "fails-once", "f1")
    assert as_json(got.details.error) == {"name": "RuntimeError", "message": "first time fails"}
    retry = await client.retry_failed_step("fails-once", "f1", delay_ms=50)
    assert retry.retry.step_key == "flaky"
    assert (retry.retry.attempts, retry.retry.max_attempts) == (1, 2)
    got = await finished(client, "fails-once", "f1")
    assert as_json(got.details) == {"status": "complete", "runNumber": 0, "output": [1, "ok"]}
    assert calls == {"a": 1, "flaky": 2}


@workflow("logger")
async def logger(event: Any, step: Any) -> Any:
    step.log.info("starting", {"n": 1})

    def work(ctx: StepContext) -> int:
        step.log.warn("inside", category="billing")
        return ctx.attempt

    await step.do("work", work)
    await step.sleep("nap", "20 ms")
    step.log.error("done")
    return "ok"


async def test_log_lines_are_recorded_once_across_replays(
    workers: WorkerPool, client_factory: ClientFactory
) -> None:
    client = await start(workers, client_factory, logger)
    await client.create("logger", instance_id="lg1")
    await finished(client, "logger", "lg1")
    logs = (await client.history("logger", "lg1", include_logs=True, order="asc")).logs or []
    assert [(x.level, x.message, x.step_key, x.category) for x in logs] == [
        ("info", "starting", None, "workflow"),
        ("warn", "inside", "work", "billing"),
        ("error", "done", None, "workflow"),
    ]
    assert logs[1].attempt == 1 and logs[0].data == {"n": 1}


mode = {"sleep_first": True}


@workflow("changing")
async def changing(event: Any, step: Any) -> Any:
    if mode["sleep_first"]:
        await step.sleep("x", "50 ms")
    else:
        await step.do("x", lambda: 1)
    return "done"


async def test_a_changed_step_type_is_nondeterminism(
    workers: WorkerPool, client_factory: ClientFactory
) -> None:
    client = await start(workers, client_factory, changing)
    mode["sleep_first"] = True
    await client.create("changing", instance_id="nd1")
    await reaches(client, "changing", "nd1", "waiting")
    mode["sleep_first"] = False
    got = await finished(client, "changing", "nd1")
    assert as_json(got.details.error)["name"] == NondeterminismError.__name__
    assert "'sleep'" in as_json(got.details.error)["message"]
    assert "'do'" in as_json(got.details.error)["message"]


@workflow("json-values")
async def json_values(event: Any, step: Any) -> Any:
    value = await step.do("tuple", lambda: (1, 2))
    await step.do("bad", lambda: {1, 2})
    return value


async def test_first_run_sees_json_values_and_non_json_fails_the_step(
    workers: WorkerPool, client_factory: ClientFactory
) -> None:
    client = await start(workers, client_factory, json_values)
    await client.create("json-values", instance_id="j1")
    got = await finished(client, "json-values", "j1")
    assert as_json(got.details.error)["name"] == "StepResultError"
    steps = {s.step_key: s for s in (await client.history("json-values", "j1")).steps}
    assert steps["tuple"].result == [1, 2]
    assert steps["bad"].attempts == 1


@workflow("looping")
async def looping(event: Any, step: Any) -> Any:
    return [await step.do("item", lambda i=i: i) for i in range(3)]


async def test_repeated_step_names_get_numbered_keys(
    workers: WorkerPool, client_factory: ClientFactory
) -> None:
    client = await start(workers, client_factory, looping)
    await client.create("looping", instance_id="lp1")
    await finished(client, "looping", "lp1")
    steps = (await client.history("looping", "lp1", order="asc")).steps
    assert [s.step_key for s in steps] == ["item", "item#1", "item#2"]
    assert [s.result for s in steps] == [0, 1, 2]


@workflow("swallower")
async def swallower(event: Any, step: Any) -> Any:
    try:
        await step.sleep("nap", "50 ms")
    except Exception:  # proves the suspension signal is not an Exception
        return "swallowed"
    return "slept"


async def test_user_except_exception_cannot_swallow_the_suspension(
    workers: WorkerPool, client_factory: ClientFactory
) -> None:
    assert not issubclass(SuspendExecution, Exception)
    client = await start(workers, client_factory, swallower)
    await client.create("swallower", instance_id="sw1")
    got = await finished(client, "swallower", "sw1")
    assert got.details.output == "slept"


@workflow("ctx-sync")
async def ctx_sync(event: Any, step: Any) -> Any:
    def sync_with_ctx(ctx: StepContext) -> dict[str, Any]:
        return {"attempt": ctx.attempt, "key": ctx.step_key, "idem": ctx.idempotency_key}

    return {"ctx": await step.do("s", sync_with_ctx), "params": event.payload}


async def test_sync_steps_receive_a_step_context(
    workers: WorkerPool, client_factory: ClientFactory
) -> None:
    client = await start(workers, client_factory, ctx_sync)
    await client.create("ctx-sync", instance_id="cs1", params={"p": True})
    got = await finished(client, "ctx-sync", "cs1")
    assert got.details.output == {
        "ctx": {"attempt": 1, "key": "s", "idem": "ctx-sync/cs1/0/s"},
        "params": {"p": True},
    }


async def test_event_ids_deduplicate_even_after_the_instance_ended(
    workers: WorkerPool, client_factory: ClientFactory
) -> None:
    client = await start(workers, client_factory, gated)
    await client.create("gated", instance_id="ev1")
    await client.send_event("gated", "ev1", type="open", event_id="once")
    await client.send_event("gated", "ev1", type="open", event_id="once")
    await finished(client, "gated", "ev1")
    again = await client.send_event("gated", "ev1", type="open", event_id="once")
    assert again.accepted is True
    events = (await client.history("gated", "ev1")).events
    assert [e.id for e in events] == ["once"]


async def test_create_with_an_existing_id_returns_the_existing_instance(
    workers: WorkerPool, client_factory: ClientFactory
) -> None:
    client = await start(workers, client_factory, gated)
    first, created = await client.create("gated", instance_id="same", params={"a": 1})
    second, created_again = await client.create("gated", instance_id="same", params={"a": 2})
    assert (created, created_again) == (True, False)
    assert (await client.get("gated", "same")).meta.params == {"a": 1}
    assert second.id == first.id


async def test_the_step_limit_errors_the_instance(
    workers: WorkerPool, client_factory: ClientFactory, settings: Settings
) -> None:
    from dataclasses import replace

    limited = replace(settings, max_steps_per_run=2)
    workers.settings = limited
    await workers.start([looping])
    client = Client([looping], limited)
    try:
        await client.create("looping", instance_id="lim1")
        got = await finished(client, "looping", "lim1")
        assert as_json(got.details.error)["name"] == "StepLimitError"
    finally:
        await client.aclose()


async def test_a_step_interrupted_five_times_fails_with_worker_lost(
    workers: WorkerPool, client_factory: ClientFactory, redis: Redis, settings: Settings
) -> None:
    from durable import keys

    client = client_factory([cached])
    await client.create("cached", instance_id="wl1")
    # five executions died holding the lease without recording progress
    space = await space_of(client, "cached", "wl1")
    await reply(redis.hset(keys.instance_key(space, "cached", "wl1"), "lost", "5"))
    await workers.start([cached])
    got = await finished(client, "cached", "wl1")
    assert as_json(got.details.error)["name"] == "WorkerLostError"
    assert calls == {}
    step = (await client.history("cached", "wl1")).steps[0]
    assert (step.step_key, step.status) == ("a", "errored")


@workflow("typed-errors")
async def typed_errors(event: Any, step: Any) -> Any:
    def bad_value() -> None:
        raise ValueError("no good")

    def declined() -> None:
        raise NonRetryableError("card declined", name="CardDeclined")

    caught = []
    try:
        await step.do("value", bad_value)
    except ValueError as exc:
        caught.append(["ValueError", str(exc), isinstance(exc, StepFailedError)])
    await step.sleep("between", "20 ms")  # the rest runs on replay of the two failures
    try:
        await step.do("card", declined)
    except NonRetryableError as exc:
        caught.append([exc.name, exc.message, isinstance(exc, StepFailedError)])
    return caught


async def test_step_errors_keep_their_class_on_first_run_and_replay(
    workers: WorkerPool, client_factory: ClientFactory
) -> None:
    client = await start(workers, client_factory, typed_errors)
    await client.create("typed-errors", instance_id="te1")
    got = await finished(client, "typed-errors", "te1")
    assert got.details.output == [
        ["ValueError", "no good", True],
        ["CardDeclined", "card declined", True],
    ]
    steps = {s.step_key: s for s in (await client.history("typed-errors", "te1")).steps}
    assert as_json(steps["card"].error) == {"name": "CardDeclined", "message": "card declined"}
