"""CLI support for deploys: listing by code version, the version in `get`, and the message of a
retry-step that replays a run which failed with NondeterminismError."""

from __future__ import annotations

from tests.cli.cli_support import FakeApi, instance, step

WF = "/approvals/instances"


def test_instances_list_sends_the_version_filter(api: FakeApi) -> None:
    api.on("GET", WF, (200, {"instances": [], "hasNextPage": False}))
    result = api.run("instances", "list", "-w", "approvals", "--version", "2025-06")
    assert result.exit_code == 0, result.output
    assert dict(api.last.url.params) == {"version": "2025-06"}


def test_instances_get_shows_the_code_version(api: FakeApi) -> None:
    reply = instance("waiting")
    reply["meta"]["version"] = "3"
    api.on("GET", f"{WF}/inst_1", (200, reply))
    result = api.run("instances", "get", "-w", "approvals", "-i", "inst_1")
    assert result.exit_code == 0, result.output
    assert "Code version: 3" in result.stdout.splitlines()


def test_retry_step_says_when_it_replays_the_run(api: FakeApi) -> None:
    reply = {
        "accepted": True,
        "instance": {"id": "inst_1", "details": {"status": "queued", "runNumber": 0}},
        "retry": {"scheduledAt": "2026-02-02T15:52:08.284Z", "replay": True},
    }
    api.on("POST", f"{WF}/inst_1/retry-failed-step", (200, reply))
    result = api.run("instances", "retry-step", "-w", "approvals", "-i", "inst_1")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == (
        "Replaying instance inst_1 from its recorded steps at 2026-02-02T15:52:08.284Z "
        "(it had failed with NondeterminismError)."
    )


def test_history_shows_a_patch_marker(api: FakeApi) -> None:
    marker = step(
        "pdf-receipt#patch", type="patch", status="completed", waitEventType=None, result=None
    )
    page = {
        "runNumber": 0,
        "steps": [marker],
        "stepsHasNextPage": False,
        "events": [],
        "eventsHasNextPage": False,
    }
    api.on("GET", f"{WF}/inst_1/history", (200, page))
    result = api.run("instances", "history", "-w", "approvals", "-i", "inst_1")
    assert result.exit_code == 0, result.output
    row = next(line for line in result.stdout.splitlines() if "pdf-receipt#patch" in line)
    assert "patch" in row.split() and "patched: this run takes the new code path" in row
