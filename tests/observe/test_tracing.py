"""OpenTelemetry spans, read from the SDK's in-memory exporter: executions, step attempts, and
the trace carried from the API request that created an instance or sent it an event."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from redis.asyncio import Redis
from starlette.testclient import TestClient

from durable import keys, observe, otel, tracing
from durable.client import Client
from durable.settings import Settings
from durable.workflow import RegistryLike
from tests.conftest import REDIS_URL, WorkerPool
from tests.helpers import assert_eventually, reply, space_of
from tests.observe.conftest import MOUNT
from tests.observe.flows import workflows
from tests.observe.support import final, status

ROOT = Path(__file__).resolve().parents[2]
TRACE_A = 0x0AF7651916CD43DD8448EB211C80319C
TRACE_B = 0x4BF92F3577B34DA6A3CE929D0E0E4736
CALLER_A, CALLER_B = 0xB7AD6B7169203331, 0x00F067AA0BA902B7


def header(trace_id: int, span_id: int) -> dict[str, str]:
    return {"traceparent": f"00-{trace_id:032x}-{span_id:016x}-01"}


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    """durable's spans go to an SDK provider of this test's own, kept in memory."""
    provider = TracerProvider()
    found = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(found))
    tracing.configure(provider)
    observe.install(otel.spans())  # as a worker's start-up does
    yield found
    tracing.configure(None)
    observe.uninstall(otel.spans())
    provider.shutdown()


def named(spans: tuple[ReadableSpan, ...], name: str) -> list[ReadableSpan]:
    return sorted((s for s in spans if s.name == name), key=lambda s: s.start_time or 0)


def parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def span_id(span: ReadableSpan) -> int:
    assert span.context is not None
    found: int = span.context.span_id
    return found


def trace_id(span: ReadableSpan) -> int:
    assert span.context is not None
    found: int = span.context.trace_id
    return found


async def test_the_api_request_is_the_parent_of_every_execution_and_step(
    exporter: InMemorySpanExporter,
    http: TestClient,
    workers: WorkerPool,
    client_factory: Callable[[RegistryLike], Client],
) -> None:
    client = client_factory(workflows)
    created = http.post(
        f"{MOUNT}/obs-retry/instances", json={"id": "r1"}, headers=header(TRACE_A, CALLER_A)
    )
    assert created.status_code == 201
    await workers.start(workflows)
    await final(client, "obs-retry", "r1")

    async def ended() -> bool:  # the execution span ends just after the instance completes
        return len(named(exporter.get_finished_spans(), "execute obs-retry")) == 3

    await assert_eventually(ended, 10)
    spans = exporter.get_finished_spans()

    [request] = named(spans, f"POST {MOUNT}/{{workflow}}/instances")
    assert request.kind == SpanKind.SERVER
    assert trace_id(request) == TRACE_A and parent_of(request) == CALLER_A
    assert request.attributes is not None
    assert request.attributes["http.route"] == f"{MOUNT}/{{workflow}}/instances"
    assert request.attributes["http.response.status_code"] == 201

    executions = named(spans, "execute obs-retry")
    assert len(executions) == 3  # the failed attempt, the retry up to the sleep, the rest
    for execution in executions:
        assert execution.kind == SpanKind.CONSUMER
        assert trace_id(execution) == TRACE_A
        assert parent_of(execution) == span_id(request)
        assert execution.attributes is not None
        assert execution.attributes["durable.workflow"] == "obs-retry"
        assert execution.attributes["durable.instance"] == "r1"
        assert execution.attributes["durable.run"] == 0
    outcomes = [e.attributes["durable.outcome"] for e in executions if e.attributes]
    assert outcomes == ["suspend", "suspend", "complete"]

    attempts = named(spans, "step flaky")
    assert [a.attributes["durable.attempt"] for a in attempts if a.attributes] == [1, 2]
    for attempt, execution in zip(attempts, executions, strict=False):
        assert parent_of(attempt) == span_id(execution)  # each attempt in its own execution
        assert attempt.attributes is not None
        assert attempt.attributes["durable.step_key"] == "flaky"
        assert attempt.attributes["durable.run"] == 0
    assert attempts[0].status.status_code == StatusCode.ERROR
    assert [event.name for event in attempts[0].events] == ["exception"]
    assert attempts[1].status.status_code != StatusCode.ERROR


async def test_an_event_carries_its_request_trace_into_the_run(
    exporter: InMemorySpanExporter,
    http: TestClient,
    workers: WorkerPool,
    client_factory: Callable[[RegistryLike], Client],
) -> None:
    client = client_factory(workflows)
    await workers.start(workflows)
    url = f"{MOUNT}/obs-wait/instances"
    assert http.post(url, json={"id": "w1"}, headers=header(TRACE_A, CALLER_A)).is_success

    async def waiting() -> bool:
        return await status(client, "obs-wait", "w1") == "waiting"

    await assert_eventually(waiting)
    sent = http.post(f"{url}/w1/events", json={"type": "go"}, headers=header(TRACE_B, CALLER_B))
    assert sent.status_code == 200
    await final(client, "obs-wait", "w1")
    spans = exporter.get_finished_spans()

    [event_request] = named(spans, f"POST {MOUNT}/{{workflow}}/instances/{{id}}/events")
    assert trace_id(event_request) == TRACE_B and parent_of(event_request) == CALLER_B
    first, resumed = named(spans, "execute obs-wait")
    assert trace_id(first) == TRACE_A
    assert trace_id(resumed) == TRACE_B and parent_of(resumed) == span_id(event_request)
    [after] = named(spans, "step after")
    assert parent_of(after) == span_id(resumed) and trace_id(after) == TRACE_B


async def test_a_client_call_inside_a_span_continues_that_trace(
    exporter: InMemorySpanExporter,
    workers: WorkerPool,
    client_factory: Callable[[RegistryLike], Client],
    redis: Redis,
    settings: Settings,
) -> None:
    client = client_factory(workflows)
    tracer = otel.tracer()
    assert tracer is not None
    with tracer.start_as_current_span("caller") as caller:
        await client.create("obs-plain", instance_id="c1", params={"n": 1})
        space = await space_of(client, "obs-plain", "c1")
        stored = await reply(redis.hget(keys.instance_key(space, "obs-plain", "c1"), "tp"))
        assert stored == tracing.traceparent().encode()
    await workers.start(workflows)
    await final(client, "obs-plain", "c1")
    [execution] = named(exporter.get_finished_spans(), "execute obs-plain")
    assert parent_of(execution) == caller.get_span_context().span_id
    [step] = named(exporter.get_finished_spans(), "step echo")
    assert parent_of(step) == span_id(execution)


async def test_without_a_tracer_provider_nothing_is_stored_or_recorded(
    client_factory: Callable[[RegistryLike], Client], redis: Redis, settings: Settings
) -> None:
    tracing.configure(None)  # and no global provider is ever set in these tests
    assert otel.tracer() is None
    client = client_factory(workflows)
    await client.create("obs-plain", instance_id="n1")
    assert tracing.traceparent() == ""
    key = keys.instance_key(await space_of(client, "obs-plain", "n1"), "obs-plain", "n1")
    assert await reply(redis.hget(key, "tp")) is None


def run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DURABLE_")}
    environment.update(PYTHONPATH=str(ROOT), REDIS_URL=REDIS_URL, **env)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=environment, cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_import_durable_imports_no_opentelemetry() -> None:
    done = run_python(
        """
        import sys
        import durable, durable.client, durable.engine, durable.runner, durable.store
        import durable.tracing, durable.observe, durable.worker, durable.api
        print(sorted(m for m in sys.modules if m.split(".")[0] == "opentelemetry"))
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_durable_tracing_off_turns_it_off() -> None:
    done = run_python(
        """
        import sys
        from durable import tracing
        print(tracing.enabled(), repr(tracing.traceparent()), tracing.observer())
        print("opentelemetry" in sys.modules)
        """,
        DURABLE_TRACING="off",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["False '' None", "False"]


def test_everything_works_without_opentelemetry_installed(prefix: str) -> None:
    done = run_python(
        """
        import sys, warnings

        class NotInstalled:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] == "opentelemetry":
                    raise ModuleNotFoundError(f"No module named {name!r}")

        sys.meta_path.insert(0, NotInstalled())
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient
        from durable import tracing
        from durable.api import create_app
        from durable.settings import Settings
        from tests.observe.flows import workflows

        assert not tracing.enabled() and tracing.traceparent() == "" and not tracing.observer()
        app = create_app(Settings.from_env(enable_runner_tick=True), workflows=workflows)
        with TestClient(app) as http:
            url = "/api/workflows/obs-plain/instances"
            assert http.post(url, json={"id": "x1"}, headers={"traceparent": "00-" + "1" * 32
                + "-" + "2" * 16 + "-01"}).status_code == 201
            assert http.post("/api/workflows/_runner/tick", json={}).json()["processed"] == 1
            assert http.get(url + "/x1").json()["details"]["status"] == "complete"
            assert http.get("/metrics").status_code == 200
        print(sorted(m for m in sys.modules if m.split(".")[0] == "opentelemetry"))
        """,
        DURABLE_PREFIX=prefix,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
