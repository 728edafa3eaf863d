"""`instances watch`: live status until the instance ends; exit 0 complete, 1 otherwise."""

from __future__ import annotations

import json

import pytest

from durable.cli.watch import fit
from tests.cli.cli_support import FakeApi, instance, step

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


def charge(status: str, *failures: int, **fields: object) -> dict[str, object]:
    failed = [
        {
            "attempt": n,
            "error": {"name": "RuntimeError", "message": f"declined {n}"},
            "at": f"2026-02-02T15:52:0{n}.000Z",
        }
        for n in failures
    ]
    return step(
        "charge", type="do", status=status, waitEventType=None, maxAttempts=3,
        failedAttempts=failed, failedAttemptsTotal=len(failed), **fields,
    )  # fmt: skip


def test_watch_prints_each_failed_attempt_once(api: FakeApi) -> None:
    api.on(
        "GET",
        INSTANCE,
        (200, instance("running", step=charge("running", attempts=1))),
        (200, instance("waiting", step=charge("waiting", 1, attempts=1))),
        (200, instance("waiting", step=charge("waiting", 1, attempts=1))),
        (200, instance("running", step=charge("running", 1, attempts=2))),
        (200, instance("errored", step=charge("errored", 1, 2, attempts=2))),
    )
    result = api.run(*WATCH)
    assert result.exit_code == 1
    failures = [line for line in result.stdout.splitlines() if " failed " in line]
    assert failures == [
        "inst_1: step charge attempt 1 failed 2026-02-02T15:52:01.000Z  RuntimeError: declined 1",
        "inst_1: step charge attempt 2 failed 2026-02-02T15:52:02.000Z  RuntimeError: declined 2",
    ]


def test_watch_cuts_its_live_line_to_the_terminal_width(
    api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    waiting = charge("waiting", attempts=1, nextRetryAt="2026-02-02T15:53:00.000Z")
    waiting["error"] = {"name": "RuntimeError", "message": "line one\nline two " * 5}
    api.on("GET", INSTANCE, (200, instance("waiting", step=waiting)), (200, instance("complete")))
    result = api.run(*WATCH, tty=True)
    assert result.exit_code == 0, result.output
    live = [part for part in result.stdout.split("\r\x1b[2K") if part.startswith("inst_1: waiting")]
    assert len(live) == 1
    assert len(live[0]) == 39 and "\n" not in live[0]
    assert live[0].startswith("inst_1: waiting (run 0) - step ch")
    assert live[0].endswith("… [0s]")


@pytest.mark.parametrize(
    ("line", "suffix", "columns", "expected"),
    [
        ("short", " [1s]", 80, "short [1s]"),
        ("abcdefghij", "[1s]", 12, "abcdef…[1s]"),  # 11 columns used, the last one left free
        ("ab\tc\nd", " [1s]", 80, "ab c d [1s]"),
        ("日本語の長いステータス", "[1s]", 12, "日本語…[1s]"),  # wide characters: two columns
        ("abcdefghij", "[1s]", 4, "ab…"),  # no room for the clock
    ],
)
def test_fit_never_exceeds_the_width(line: str, suffix: str, columns: int, expected: str) -> None:
    assert fit(line, suffix, columns) == expected
