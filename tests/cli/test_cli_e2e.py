"""The installed `durable` script against a real API and worker on a real Redis.

The services run as subprocesses (`durable api`, `durable worker`) under a unique key prefix;
their keys are deleted afterwards, nothing is flushed.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from tests.cli.cli_support import (
    FLOWS,
    REDIS_URL,
    api_is_up,
    durable,
    durable_script,
    eventually,
    service_env,
    stop,
)
from tests.helpers import free_port

pytestmark = pytest.mark.timeout(120)


@dataclass(frozen=True)
class Services:
    base_url: str
    logs: Path


def _redis_or_skip() -> redis.Redis:
    conn = redis.Redis.from_url(REDIS_URL)
    conn.ping()  # the test command starts a Redis; without one these tests must fail, not skip
    return conn


def _delete_prefix(conn: redis.Redis, prefix: str) -> None:
    for pattern in (f"{prefix}*", f"arq:*{prefix}*"):
        keys = list(conn.scan_iter(match=pattern, count=1000))
        for start in range(0, len(keys), 500):
            conn.delete(*keys[start : start + 500])


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    conn = _redis_or_skip()
    prefix = f"t{uuid.uuid4().hex}"
    port = free_port()
    logs = tmp_path_factory.mktemp("services")
    env = service_env(REDIS_URL=REDIS_URL, DURABLE_PREFIX=prefix)
    script = durable_script()
    assert script is not None
    commands = {
        "api": [script, "api", "--workflows", FLOWS, "--port", str(port)],
        "worker": [script, "worker", "--workflows", FLOWS, "--lease-ttl", "2 s"],
    }
    procs = {
        name: subprocess.Popen(command, env=env, stdout=(logs / f"{name}.log").open("w"),
                               stderr=subprocess.STDOUT)
        for name, command in commands.items()
    }  # fmt: skip
    base_url = f"http://127.0.0.1:{port}/api/workflows"
    try:
        eventually(lambda: api_is_up(base_url) or procs["api"].poll() is not None, timeout=30)
        assert procs["api"].poll() is None, (logs / "api.log").read_text()
        yield Services(base_url, logs)
    finally:
        for proc in procs.values():
            stop(proc)
        _delete_prefix(conn, prefix)
        conn.close()


def create(services: Services, workflow: str, *extra: str) -> str:
    out = durable("instances", "create", "-b", services.base_url, "-w", workflow, "--json", *extra)
    assert out.returncode == 0, out.stderr
    instance_id: str = json.loads(out.stdout)["id"]
    return instance_id


def status(services: Services, workflow: str, instance_id: str) -> str:
    out = durable(
        "-b", services.base_url, "--json", "instances", "get", "-w", workflow, "-i", instance_id
    )
    assert out.returncode == 0, out.stderr
    value: str = json.loads(out.stdout)["details"]["status"]
    return value


def test_workflows_list(services: Services) -> None:
    out = durable("workflows", "list", "-b", services.base_url)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["WORKFLOW", "cli-approval", "cli-flaky"]


def test_create_event_get_history_watch(services: Services) -> None:
    b = services.base_url
    iid = create(services, "cli-approval", "--params", '{"requestId":"req_1","amount":125}')
    eventually(lambda: status(services, "cli-approval", iid) == "waiting")

    get = durable("-b", b, "instances", "get", "-w", "cli-approval", "-i", iid)
    assert get.returncode == 0, get.stderr
    assert "Status: waiting" in get.stdout and 'waiting for event "approval"' in get.stdout

    sent = durable(
        "instances", "send-event", "-b", b, "-w", "cli-approval", "-i", iid, "-t", "approval",
        "--payload", '{"approved":true}',
    )  # fmt: skip
    assert sent.returncode == 0, sent.stderr
    assert sent.stdout.startswith(f'Sent event "approval" to instance {iid}.')

    watch = durable(
        "-b", b, "instances", "watch", "-w", "cli-approval", "-i", iid, "--interval", "50"
    )
    assert watch.returncode == 0, watch.stdout + watch.stderr
    assert watch.stdout.endswith(f'Instance {iid} complete.\nOutput: {{"approved":true}}\n')

    history = durable(
        "-b", b, "instances", "history", "-w", "cli-approval", "-i", iid, "--include-logs"
    )
    assert history.returncode == 0, history.stderr
    assert "Steps (2):" in history.stdout and "Events (1):" in history.stdout
    assert "record" in history.stdout and "decision recorded" in history.stdout

    logs = durable("-b", b, "instances", "logs", "-w", "cli-approval", "-i", iid)
    lines = logs.stdout.splitlines()
    assert [line.split("INFO  ")[1].split(" {")[0] for line in lines] == [
        "waiting for approval",
        "decision recorded",
    ]


def test_logs_follow_prints_each_line_once(services: Services) -> None:
    b = services.base_url
    iid = create(services, "cli-approval")
    script = durable_script()
    assert script is not None
    follow = subprocess.Popen(
        [script, "-b", b, "instances", "logs", "-w", "cli-approval", "-i", iid, "-f",
         "--interval", "50"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=service_env(),
    )  # fmt: skip
    try:
        eventually(lambda: status(services, "cli-approval", iid) == "waiting")
        sent = durable("-b", b, "instances", "send-event", "-w", "cli-approval", "-i", iid,
                       "-t", "approval")  # fmt: skip
        assert sent.returncode == 0, sent.stderr
        out, err = follow.communicate(timeout=30)
    finally:
        stop(follow)
    assert follow.returncode == 0, err
    messages = [line.split("INFO  ")[1].split(" {")[0] for line in out.splitlines()]
    assert messages == ["waiting for approval", "decision recorded"]


def test_errored_instance_retried_by_retry_step(services: Services) -> None:
    b = services.base_url
    iid = create(services, "cli-flaky")
    watch = durable("-b", b, "instances", "watch", "-w", "cli-flaky", "-i", iid, "--interval", "50")
    assert watch.returncode == 1
    assert watch.stdout.endswith(f"Instance {iid} errored.\nError: RuntimeError: card declined\n")

    retry = durable(
        "-b", b, "instances", "retry-step", "-w", "cli-flaky", "-i", iid, "--delay", "100 ms"
    )
    assert retry.returncode == 0, retry.stderr
    assert retry.stdout.startswith(f"Retrying step charge of instance {iid} at ")

    again = durable("-b", b, "instances", "watch", "-w", "cli-flaky", "-i", iid, "--interval", "50")
    assert again.returncode == 0, again.stdout + again.stderr
    assert '"charged":true' in again.stdout


def test_pause_resume_terminate_restart(services: Services) -> None:
    b = services.base_url
    iid = create(services, "cli-approval")
    args = ("-b", b, "-w", "cli-approval", "-i", iid)

    paused = durable("instances", "pause", *args)
    assert (paused.returncode, paused.stdout) == (0, f"Instance {iid} paused.\n"), paused.stderr
    eventually(lambda: status(services, "cli-approval", iid) == "paused")
    assert durable("instances", "resume", *args).stdout == f"Instance {iid} resumed.\n"
    eventually(lambda: status(services, "cli-approval", iid) == "waiting")

    assert durable("instances", "terminate", *args).stdout == f"Instance {iid} terminated.\n"
    again = durable("instances", "terminate", *args)
    assert again.returncode == 1
    assert again.stderr.startswith("Request failed: 409 ") and "(INSTANCE_TERMINAL)" in again.stderr

    assert durable("instances", "restart", *args).stdout == f"Instance {iid} restarted.\n"
    eventually(lambda: status(services, "cli-approval", iid) == "waiting")
    get = durable("instances", "get", *args)
    assert "Run: 1" in get.stdout
    old_run = durable("instances", "history", *args, "--run", "0", "--json")
    assert json.loads(old_run.stdout)["runNumber"] == 0


def test_api_errors_and_unreachable_api(services: Services) -> None:
    missing = durable("-b", services.base_url, "instances", "get", "-w", "nope", "-i", "x")
    assert missing.returncode == 1
    assert missing.stderr.startswith("Request failed: 404 ")
    assert missing.stderr.rstrip().endswith("(WORKFLOW_NOT_FOUND)")

    bad_id = durable(
        "-b", services.base_url, "instances", "create", "-w", "cli-approval", "-i", "bad id"
    )
    assert bad_id.returncode == 1 and "(INVALID_INSTANCE_ID)" in bad_id.stderr

    dead = f"http://127.0.0.1:{free_port()}/api/workflows"
    down = durable("-b", dead, "--retries", "1", "--retry-delay", "10", "workflows", "list")
    assert down.returncode == 1
    assert down.stderr.startswith(f"Request failed: could not reach {dead}/: ")
    assert "Traceback" not in down.stderr
