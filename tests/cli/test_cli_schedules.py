"""`durable schedules ...` and `durable instances bulk ...` against the real API (a Starlette
app on a real Redis, reached through click's CliRunner), plus their usage errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest
from click.testing import CliRunner, Result
from starlette.testclient import TestClient

from durable.api import create_app
from durable.cli.main import cli
from durable.cli.options import CliState
from durable.settings import Settings
from tests.api.api_support import MOUNT, workflows

BASE = f"http://127.0.0.1:8000{MOUNT}"


@pytest.fixture
def http(settings: Settings) -> Iterator[TestClient]:
    app_settings = replace(settings, mount_path=MOUNT, api_token=None, enable_runner_tick=True)
    with TestClient(create_app(app_settings, workflows=workflows)) as client:
        yield client


def run(http: TestClient, *args: str) -> Result:
    def forward(request: httpx.Request) -> httpx.Response:
        answer = http.request(
            request.method, request.url.raw_path.decode(), content=request.content,
            headers=dict(request.headers),
        )  # fmt: skip
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)

    state = CliState(transport=httpx.MockTransport(forward), sleep=lambda _: None)
    return CliRunner().invoke(cli, [*args, "-b", BASE], obj=state, prog_name="durable")


def test_schedule_commands_create_list_get_pause_trigger_and_delete(http: TestClient) -> None:
    made = run(http, "schedules", "create", "-w", "plain", "-s", "nightly", "--cron",
               "0 3 * * *", "--params", '{"n": 1}', "--timezone", "Europe/Paris")  # fmt: skip
    assert made.exit_code == 0, made.output
    assert made.stdout.startswith("Created schedule nightly.\nSchedule nightly of plain: cron")
    again = run(http, "schedules", "create", "-w", "plain", "-s", "nightly", "--every", "1 h")
    assert again.exit_code == 0 and again.stdout.startswith("Saved schedule nightly.")
    listed = run(http, "schedules", "list", "-w", "plain")
    assert listed.stdout.splitlines()[0].split() == ["ID", "WHEN", "STATE", "NEXT", "RUN", "LAST",
                                                     "INSTANCE"]  # fmt: skip
    assert "every 1 h" in listed.stdout and "active" in listed.stdout
    got = run(http, "schedules", "get", "-w", "plain", "-s", "nightly", "--json")
    assert json.loads(got.stdout)["every"] == "1 h"
    assert run(http, "schedules", "pause", "-w", "plain", "-s", "nightly").stdout == (
        "Schedule nightly paused.\n"
    )
    assert "Paused: yes" in run(http, "schedules", "get", "-w", "plain", "-s", "nightly").stdout
    run(http, "schedules", "resume", "-w", "plain", "-s", "nightly")
    trigger = run(http, "schedules", "trigger", "-w", "plain", "-s", "nightly")
    assert trigger.stdout == "Schedule nightly triggered.\n"
    deleted = run(http, "schedules", "delete", "-w", "plain", "-s", "nightly")
    assert deleted.stdout == "Schedule nightly deleted.\n"
    gone = run(http, "schedules", "get", "-w", "plain", "-s", "nightly")
    assert gone.exit_code == 1
    assert gone.stderr.startswith("Request failed: 404 workflow 'plain' has no schedule")
    assert run(http, "schedules", "list", "-w", "plain").stdout == "No schedules.\n"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--cron", "0 3 * *"], 1, "  cron: 5 fields"),
        (["--every", "often"], 1, "  every: invalid duration"),
        (["--every", "1 h", "--timezone", "Moon/Base"], 1, "  timezone: unknown time zone"),
        ([], 2, "give exactly one of --cron and --every"),
        (["--cron", "* * * * *", "--every", "1 s"], 2, "give exactly one of --cron and --every"),
        (["--every", "1 h", "--params", "{"], 2, "--params is not valid JSON"),
        (["--every", "1 h", "--overlap", "queue"], 2, "Invalid value for '--overlap'"),
    ],
)
def test_bad_schedules_fail_in_one_line(
    http: TestClient, args: list[str], code: int, message: str
) -> None:
    result = run(http, "schedules", "create", "-w", "plain", "-s", "bad", *args)
    assert result.exit_code == code, result.output
    assert message in result.stderr and "Traceback" not in result.output


def test_bulk_commands(http: TestClient) -> None:
    for n in range(3):
        http.post(f"{MOUNT}/approval/instances", json={"id": f"a{n}"})
    done = run(http, "instances", "bulk", "terminate", "-w", "approval", "--status", "queued")
    assert done.exit_code == 0, done.output
    assert done.stdout == "Matched 3 instance(s): 3 terminated, 0 skipped.\n"
    again = run(http, "instances", "bulk", "restart", "-w", "approval", "--id", "a0", "--id",
                "zz", "--json")  # fmt: skip
    assert json.loads(again.stdout) == {"matched": 1, "changed": 1, "skipped": 0}
    retried = run(http, "instances", "bulk", "retry-step", "-w", "approval", "--status",
                  "errored", "--delay", "1 s")  # fmt: skip
    assert retried.stdout == "Matched 0 instance(s): 0 retried, 0 skipped.\n"
    nothing = run(http, "instances", "bulk", "terminate", "-w", "approval")
    assert nothing.exit_code == 2 and "select instances with --status and/or --id" in nothing.stderr
    delay = run(http, "instances", "bulk", "terminate", "-w", "approval", "--id", "a1",
                "--delay", "1 s")  # fmt: skip
    assert delay.exit_code == 2 and "--delay applies to retry-step only" in delay.stderr
    bad = run(http, "instances", "bulk", "terminate", "-w", "approval", "--id", "-x")
    assert bad.exit_code == 1 and "(INVALID_INSTANCE_ID)" in bad.stderr
