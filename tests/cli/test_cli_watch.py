"""`instances watch`: live status until the instance ends; exit 0 complete, 1 otherwise."""

from __future__ import annotations

import json

from cli_support import FakeApi, instance, step

INSTANCE = "/approvals/instances/inst_1"
WATCH = ("instances", "watch", "-w", "approvals", "-i", "inst_1", "--interval", "10")


def script(api: FakeApi, final: dict[str, object]) -> None:
    running = instance("running", step=step("charge", type="do", status="running"))
    api.on(
        "GET",
        INSTANCE,
        (200, instance("queued")),
        (200, running),
        (200, running),
        (200, instance("waiting", step=step())),
        (200, final),
    )


def test_watch_piped_prints_a_line_per_change_and_exits_0(api: FakeApi) -> None:
    script(api, instance("complete", output={"approved": True}))
    result = api.run(*WATCH)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "inst_1: queued (run 0)",
        "inst_1: running (run 0) - step charge (do, running)",
        "inst_1: waiting (run 0) - step approval (waitForEvent, waiting), "
        'waiting for event "approval"',
        "Instance inst_1 complete.",
        'Output: {"approved":true}',
    ]
    assert api.sleeps == [0.01] * 4


def test_watch_errored_exits_1(api: FakeApi) -> None:
    script(api, instance("errored", error={"name": "RuntimeError", "message": "boom"}))
    result = api.run(*WATCH)
    assert result.exit_code == 1
    assert result.stdout.splitlines()[-2:] == [
        "Instance inst_1 errored.",
        "Error: RuntimeError: boom",
    ]


def test_watch_terminated_exits_1(api: FakeApi) -> None:
    api.on("GET", INSTANCE, (200, instance("terminated")))
    result = api.run(*WATCH)
    assert result.exit_code == 1
    assert result.stdout == "Instance inst_1 terminated.\n"


def test_watch_on_a_tty_rewrites_one_line(api: FakeApi) -> None:
    script(api, instance("complete", output=None))
    result = api.run(*WATCH, tty=True)
    assert result.exit_code == 0, result.output
    assert result.stdout.count("\r\x1b[2K") == 5
    assert result.stdout.count("\n") == 2
    assert "inst_1: running (run 0) - step charge (do, running) [0s]" in result.stdout
    assert result.stdout.endswith("\r\x1b[2KInstance inst_1 complete.\nOutput: null\n")


def test_watch_json_prints_changes_as_json_lines(api: FakeApi) -> None:
    script(api, instance("complete"))
    result = api.run(*WATCH, "--json", tty=True)
    assert result.exit_code == 0, result.output
    statuses = [json.loads(line)["details"]["status"] for line in result.stdout.splitlines()]
    assert statuses == ["queued", "running", "waiting", "complete"]


def test_watch_missing_instance_fails(api: FakeApi) -> None:
    body = {"message": "no such instance", "code": "INSTANCE_NOT_FOUND"}
    api.on("GET", INSTANCE, (404, body))
    result = api.run(*WATCH)
    assert result.exit_code == 1
    assert result.stderr == "Request failed: 404 no such instance (INSTANCE_NOT_FOUND)\n"
