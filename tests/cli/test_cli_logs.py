"""What the real services write: JSON lines (every line, uvicorn's and arq's included) with the
instance on outcome lines; the text format by default; arq's per-job lines only at DEBUG."""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from tests.cli.cli_support import (
    FLOWS,
    REDIS_URL,
    api_is_up,
    durable_script,
    eventually,
    service_env,
    stop,
)
from tests.conftest import delete_prefix
from tests.helpers import free_port

pytestmark = pytest.mark.timeout(120)
TEXT_LINE = re.compile(
    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (DEBUG|INFO|WARNING|ERROR|CRITICAL) +[\w.]+: .*"
)


@pytest.fixture
def prefix() -> Iterator[str]:
    redis.Redis.from_url(REDIS_URL).ping()  # without a Redis these tests fail, never skip
    value = f"t{uuid.uuid4().hex[:12]}"
    yield value
    delete_prefix(value)


class Service:
    def __init__(self, name: str, args: list[str], env: dict[str, str], logs: Path) -> None:
        script = durable_script()
        assert script is not None
        self.out, self.err = logs / f"{name}.out", logs / f"{name}.err"
        with self.out.open("w") as out, self.err.open("w") as err:
            self.proc = subprocess.Popen([script, *args], env=env, stdout=out, stderr=err)

    def lines(self) -> list[str]:
        return self.out.read_text().splitlines() + self.err.read_text().splitlines()


def create(base: str, workflow: str) -> str:
    reply = httpx.post(f"{base}/{workflow}/instances", json={}, timeout=10)
    assert reply.status_code == 201, reply.text
    instance_id: str = reply.json()["id"]
    return instance_id


def status(base: str, workflow: str, instance_id: str) -> str:
    reply = httpx.get(f"{base}/{workflow}/instances/{instance_id}", timeout=10)
    value: str = reply.json()["details"]["status"]
    return value


def run_instances(base: str) -> tuple[str, str]:
    """One instance that completes (after an event), one whose step fails: both outcomes."""
    approval = create(base, "cli-approval")
    eventually(lambda: status(base, "cli-approval", approval) == "waiting", timeout=30)
    sent = httpx.post(
        f"{base}/cli-approval/instances/{approval}/events",
        json={"type": "approval", "payload": {"approved": True}},
        timeout=10,
    )
    assert sent.status_code < 300, sent.text
    flaky = create(base, "cli-flaky")
    eventually(lambda: status(base, "cli-approval", approval) == "complete", timeout=30)
    eventually(lambda: status(base, "cli-flaky", flaky) == "errored", timeout=30)
    return approval, flaky


def test_json_logs_from_a_real_worker_and_api(prefix: str, tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}/api/workflows"
    env = service_env(REDIS_URL=REDIS_URL, DURABLE_PREFIX=prefix, DURABLE_LOG_FORMAT="json")
    api = Service("api", ["api", "--workflows", FLOWS, "--port", str(port)], env, tmp_path)
    worker = Service(
        "worker", ["worker", "--workflows", FLOWS, "--log-format", "json"], env, tmp_path
    )
    try:
        eventually(lambda: api_is_up(base) or api.proc.poll() is not None, timeout=30)
        assert api.proc.poll() is None, api.lines()
        approval, flaky = run_instances(base)
    finally:
        stop(api.proc)
        stop(worker.proc)
    entries: dict[str, list[dict[str, Any]]] = {}
    for service in (api, worker):
        entries[service.out.stem] = [json.loads(line) for line in service.lines()]
        for entry in entries[service.out.stem]:
            assert {"time", "level", "logger", "message"} <= entry.keys(), entry
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", entry["time"])
    by_message = {e["message"]: e for e in entries["worker"]}
    complete = by_message[f"instance cli-approval/{approval} complete"]
    assert complete["workflow"] == "cli-approval" and complete["instance"] == approval
    assert complete["run"] == 0 and complete["level"] == "info"
    errored = next(e for e in entries["worker"] if e.get("instance") == flaky)
    assert errored["message"].startswith(f"instance cli-flaky/{flaky} errored: ")
    assert any(m.startswith("durable worker ready: workflows cli-approval") for m in by_message)
    assert not [e for e in entries["worker"] if e["logger"] == "arq.worker"]
    access = [e for e in entries["api"] if e["logger"] == "uvicorn.access"]
    assert any("POST /api/workflows/cli-flaky/instances" in e["message"] for e in access)
    assert any(e["logger"] == "uvicorn.error" for e in entries["api"])


def burst_worker(env: dict[str, str], logs: Path, *extra: str) -> list[str]:
    worker = Service("worker", ["worker", "--burst", "--workflows", FLOWS, *extra], env, logs)
    assert worker.proc.wait(timeout=60) == 0, worker.lines()
    return worker.lines()


def test_text_by_default_and_arq_per_job_lines_only_at_debug(prefix: str, tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}/api/workflows"
    env = service_env(REDIS_URL=REDIS_URL, DURABLE_PREFIX=prefix)
    api = Service("api", ["api", "--workflows", FLOWS, "--port", str(port)], env, tmp_path)
    try:
        eventually(lambda: api_is_up(base) or api.proc.poll() is not None, timeout=30)
        flaky = create(base, "cli-flaky")
        info = burst_worker(env, tmp_path)
        assert status(base, "cli-flaky", flaky) == "errored"
        create(base, "cli-flaky")
        debug = burst_worker(env, tmp_path, "--log-level", "debug")
    finally:
        stop(api.proc)
    for line in info + api.lines():
        assert TEXT_LINE.fullmatch(line), line
    assert any(f"durable.runner: instance cli-flaky/{flaky} errored" in line for line in info)
    assert not [line for line in info if " arq.worker: " in line]
    assert [line for line in debug if " arq.worker: " in line]
