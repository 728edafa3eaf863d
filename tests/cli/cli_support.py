"""Helpers for the CLI tests: a scripted API behind httpx.MockTransport, and response builders."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from click.testing import CliRunner, Result

from durable.cli.main import cli
from durable.cli.options import CliState
from tests.helpers import wait_until

BASE = "http://127.0.0.1:8000/api/workflows"
Reply = tuple[int, Any] | httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


class FakeApi:
    """Answers requests by (method, path) with scripted replies; the last reply repeats.

    Records every request and every delay the CLI asked to sleep for.
    """

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], list[Reply]] = {}
        self.requests: list[httpx.Request] = []
        self.sleeps: list[float] = []

    def on(self, method: str, path: str, *replies: Reply) -> FakeApi:
        self.routes[(method, "/api/workflows" + path)] = list(replies)
        return self

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        queue = self.routes.get((request.method, request.url.path))
        if not queue:
            return httpx.Response(404, json={"message": "no route", "code": "ROUTE_NOT_FOUND"})
        reply = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(reply, Exception):
            raise reply
        if isinstance(reply, httpx.Response):
            return reply
        if callable(reply):
            return reply(request)
        status, body = reply
        return httpx.Response(status, json=body)

    def run(self, *args: str, env: dict[str, str] | None = None, tty: bool | None = None) -> Result:
        state = CliState(
            transport=httpx.MockTransport(self.handler), sleep=self.sleeps.append, tty=tty
        )
        return CliRunner().invoke(cli, list(args), obj=state, env=env, prog_name="durable")

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]

    def body(self, index: int = -1) -> Any:
        content = self.requests[index].content
        return json.loads(content) if content else None


def instance(
    status: str = "queued",
    *,
    id: str = "inst_1",
    step: dict[str, Any] | None = None,
    **details: Any,
) -> dict[str, Any]:
    """A `GET /{workflow}/instances/{id}` body."""
    meta: dict[str, Any] = {
        "workflowName": "approvals",
        "runNumber": 0,
        "params": {"amount": 125},
        "pauseRequested": False,
        "createdAt": "2026-02-02T15:52:06.284Z",
        "updatedAt": "2026-02-02T15:52:07.000Z",
        "startedAt": None,
        "completedAt": None,
    }
    if step is not None:
        meta["currentStep"] = step
    return {"id": id, "details": {"status": status, "runNumber": 0, **details}, "meta": meta}


def step(key: str = "approval", **fields: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "stepKey": key,
        "name": key.split("#")[0],
        "type": "waitForEvent",
        "status": "waiting",
        "attempts": 1,
        "maxAttempts": 1,
        "timeoutMs": None,
        "nextRetryAt": None,
        "wakeAt": None,
        "waitEventType": "approval",
        "result": None,
        "createdAt": "2026-02-02T15:52:06.300Z",
        "updatedAt": "2026-02-02T15:52:06.300Z",
    }
    entry.update(fields)
    return entry


def log(id: str, message: str, **fields: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": id,
        "stepKey": None,
        "attempt": None,
        "level": "info",
        "category": "workflow",
        "message": message,
        "data": None,
        "createdAt": "2026-02-02T15:52:06.400Z",
    }
    entry.update(fields)
    return entry


# --- end-to-end helpers: the installed console script against real processes ----------------

ROOT = Path(__file__).resolve().parents[2]
FLOWS = "tests.cli.flows:workflows"
REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"


def durable_script() -> str | None:
    beside = Path(sys.executable).with_name("durable")
    return str(beside) if beside.exists() else shutil.which("durable")


def service_env(**extra: str) -> dict[str, str]:
    """The environment for spawned processes: our flows importable, no stray CLI settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DURABLE_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env.update(extra)
    return env


def durable(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    script = durable_script()
    assert script is not None
    return subprocess.run(
        [script, *args], capture_output=True, text=True, timeout=timeout, env=service_env()
    )


def eventually(check: Callable[[], Any], timeout: float = 15.0, interval: float = 0.05) -> Any:
    """Poll `check` until it returns something truthy; fail after `timeout` seconds."""
    return wait_until(check, timeout, interval)


def api_is_up(base_url: str) -> bool:
    try:
        return httpx.get(f"{base_url}/health", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def stop(proc: subprocess.Popen[Any], timeout: float = 20) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()
