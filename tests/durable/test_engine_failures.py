"""Failed attempts stay visible: on the step record, in the history logs and in the process log."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest

from durable import NonRetryableError, StepContext, workflow
from durable.client import Client
from durable.errors import WorkflowError
from durable.models import Instance
from durable.store import Store
from tests.conftest import ClientFactory, WorkerPool
from tests.helpers import as_json, assert_eventually

pytestmark = pytest.mark.timeout(60)

ISO_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


async def finished(client: Client, wf: str, iid: str) -> Instance:
    async def check() -> Any:
        got = await client.get(wf, iid)
        return got if got.details.status in ("complete", "errored", "terminated") else None

    return await assert_eventually(check)  # type: ignore[no-any-return]


async def start(workers: Any, client_factory: Any, flow: Any) -> Client:
    await workers.start([flow])
    return client_factory([flow])  # type: ignore[no-any-return]


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def engine_log() -> Iterator[Collect]:
    """The `durable.engine` process log, whatever handlers or levels the app configured."""
    logger = logging.getLogger("durable.engine")
    handler, level = Collect(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


@workflow("third-time")
async def third_time(event: Any, step: Any) -> Any:
    def flaky(ctx: StepContext) -> str:
        if ctx.attempt < 3:
            raise RuntimeError(f"failure {ctx.attempt}")
        return "ok"

    step.log.info("before")
    value = await step.do("flaky", flaky, retries={"limit": 3, "delay": 5})
    await step.sleep("nap", "10 ms")  # one more replay over the recorded failures
    await step.do("after", lambda: "done")
    return value


async def test_a_step_that_succeeds_on_attempt_3_shows_its_two_failures(
    workers: WorkerPool, client_factory: ClientFactory
) -> None:
    client = await start(workers, client_factory, third_time)
    await client.create("third-time", instance_id="t1")
    assert (await finished(client, "third-time", "t1")).details.output == "ok"
    step = (await client.history("third-time", "t1", order="asc")).steps[0]
    assert (step.status, step.attempts, step.failed_attempts_total) == ("completed", 3, 2)
    failed = step.failed_attempts
    assert [(f.attempt, as_json(f.error)) for f in failed] == [
        (1, {"name": "RuntimeError", "message": "failure 1"}),
        (2, {"name": "RuntimeError", "message": "failure 2"}),
    ]
    assert all(ISO_MS.fullmatch(as_json(f)["at"]) for f in failed)
    assert failed[0].at <= failed[1].at <= step.updated_at
    assert step.error is None and "error" not in as_json(step)


async def test_each_scheduled_retry_logs_one_warn_line_in_history(
    workers: WorkerPool, client_factory: ClientFactory
) -> None:
    client = await start(workers, client_factory, third_time)
    await client.create("third-time", instance_id="t2")
    await finished(client, "third-time", "t2")
    logs = (await client.history("third-time", "t2", include_logs=True, order="asc")).logs or []
    retries = [line for line in logs if line.category == "retry"]
    assert [(r.step_key, r.attempt, r.level) for r in retries] == [
        ("flaky", 1, "warn"),
        ("flaky", 2, "warn"),
    ]
    first = retries[0]
    assert first.message.startswith("RuntimeError: failure 1; retrying (attempt 2/4) at ")
    assert first.data["error"] == {"name": "RuntimeError", "message": "failure 1"}
    assert first.data["nextAttempt"] == 2
    assert ISO_MS.fullmatch(first.data["nextAttemptAt"])
    assert first.data["nextAttemptAt"] >= as_json(first)["createdAt"]
    # the workflow replayed five times; its own line and the retry lines are each written once
    assert [line.message for line in logs].count("before") == 1
    assert len(logs) == 3


async def test_a_retry_is_written_to_the_process_log(
    workers: WorkerPool, client_factory: ClientFactory, engine_log: Collect
) -> None:
    client = await start(workers, client_factory, third_time)
    await client.create("third-time", instance_id="t3")
    await finished(client, "third-time", "t3")
    lines = [r.getMessage() for r in engine_log.records if "failed on attempt" in r.msg]
    assert len(lines) == 2
    assert re.fullmatch(
        r"step flaky of third-time/t3 failed on attempt 1/4 \(RuntimeError: failure 1\); "
        r"next attempt at " + ISO_MS.pattern,
        lines[0],
    )
    assert all(r.levelno == logging.INFO for r in engine_log.records if "failed on" in r.msg)


async def test_a_failed_attempt_costs_one_write_with_its_log_line(
    workers: WorkerPool, client_factory: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes: list[tuple[str, str]] = []
    save_step = Store.save_step

    async def counting(self: Store, ref: Any, **args: Any) -> Any:
        if args["key"] == "flaky":
            writes.append((args["mode"], args["log_lines"]))
        return await save_step(self, ref, **args)

    monkeypatch.setattr(Store, "save_step", counting)
    client = await start(workers, client_factory, third_time)
    await client.create("third-time", instance_id="t4")
    await finished(client, "third-time", "t4")
    commits = [lines for mode, lines in writes if mode == "commit"]
    assert len(commits) == 3  # failure, failure, success
    assert ['"g":"retry"' in lines for lines in commits] == [True, True, False]


@workflow("always-fails")
async def always_fails(event: Any, step: Any) -> Any:
    def fail(ctx: StepContext) -> None:
        raise ValueError(f"no {ctx.attempt}")

    return await step.do("doomed", fail, retries={"limit": 24, "delay": 1})


async def test_a_step_failing_25_times_keeps_the_last_20_and_counts_25(
    workers: WorkerPool, client_factory: ClientFactory
) -> None:
    client = await start(workers, client_factory, always_fails)
    await client.create("always-fails", instance_id="a1")
    got = await finished(client, "always-fails", "a1")
    assert as_json(got.details.error) == {"name": "ValueError", "message": "no 25"}
    step = (await client.history("always-fails", "a1")).steps[0]
    assert (step.status, step.attempts, step.failed_attempts_total) == ("errored", 25, 25)
    assert [f.attempt for f in step.failed_attempts] == list(range(6, 26))
    assert step.failed_attempts[-1].error == step.error
    current = got.meta.current_step
    assert current is not None
    assert (current.failed_attempts_total, len(current.failed_attempts)) == (25, 20)
    history = await client.history("always-fails", "a1", include_logs=True, page_size=100)
    logs = history.logs or []
    assert len([line for line in logs if line.category == "retry"]) == 24


@workflow("refused")
async def refused(event: Any, step: Any) -> Any:
    def refuse() -> None:
        raise NonRetryableError("card declined", name="CardDeclined")

    return await step.do("charge", refuse, retries={"limit": 5, "delay": 10})


async def test_a_final_failure_is_a_failed_attempt_without_a_retry_line(
    workers: WorkerPool, client_factory: ClientFactory
) -> None:
    client = await start(workers, client_factory, refused)
    await client.create("refused", instance_id="r1")
    await finished(client, "refused", "r1")
    history = await client.history("refused", "r1", include_logs=True)
    step = history.steps[0]
    assert [(f.attempt, as_json(f.error)["name"]) for f in step.failed_attempts] == [
        (1, "CardDeclined")
    ]
    assert step.failed_attempts_total == 1
    assert history.logs == []


# -- TimeoutError raised by a step's own code ----------------------------------------------------


@workflow("own-timeout")
async def own_timeout(event: Any, step: Any) -> Any:
    def socket_timeout(ctx: StepContext) -> str:
        raise TimeoutError(f"socket timed out on attempt {ctx.attempt}")

    async def quick_timeout() -> str:
        raise TimeoutError("upstream gave up")

    try:
        await step.do("bare", socket_timeout, retries={"limit": 1, "delay": 5})
    except WorkflowError as exc:
        first = f"{isinstance(exc, TimeoutError)} {exc.name}: {exc}"
    try:
        await step.do("bounded", quick_timeout, timeout="1 min")
    except WorkflowError as exc:
        second = f"{isinstance(exc, TimeoutError)} {exc.name}: {exc}"
    return [first, second]


async def test_a_timeout_error_from_step_code_is_that_error_not_a_step_timeout(
    workers: WorkerPool, client_factory: ClientFactory
) -> None:
    """Only an attempt that outlives the step's own `timeout` is a StepTimeoutError; a
    TimeoutError the step's code raises (a socket timeout) is recorded under its own name and
    retried by the step's policy, with or without a timeout on the step; workflow code catches
    it as a TimeoutError."""
    client = await start(workers, client_factory, own_timeout)
    await client.create("own-timeout", instance_id="o1")
    got = await finished(client, "own-timeout", "o1")
    assert got.details.output == [
        "True TimeoutError: socket timed out on attempt 2",
        "True TimeoutError: upstream gave up",
    ]
    bare, bounded = (await client.history("own-timeout", "o1", order="asc")).steps
    assert (bare.status, bare.attempts, bare.timeout_ms) == ("errored", 2, None)
    assert [f.error.name for f in bare.failed_attempts] == ["TimeoutError", "TimeoutError"]
    assert bare.error is not None
    assert as_json(bare.error) == {"name": "TimeoutError", "message": bare.error.message}
    assert (bounded.status, bounded.attempts, bounded.timeout_ms) == ("errored", 1, 60_000)
    assert bounded.error is not None and bounded.error.name == "TimeoutError"
