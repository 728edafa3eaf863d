"""`instances history` and `instances logs` (with and without --follow)."""

from __future__ import annotations

import json

import httpx

from tests.cli.cli_support import FakeApi, instance, log, step

HISTORY = "/approvals/instances/inst_1/history"
INSTANCE = "/approvals/instances/inst_1"
LOGS = ("instances", "logs", "-w", "approvals", "-i", "inst_1")


def history_page(logs: list[dict[str, object]] | None = None, **extra: object) -> dict[str, object]:
    page: dict[str, object] = {
        "runNumber": 0,
        "steps": [
            step("approval", status="completed", result=None),
            step("record", type="do", status="completed", waitEventType=None, result={"ok": True}),
        ],
        "stepsHasNextPage": False,
        "events": [
            {
                "id": "evt_1",
                "type": "approval",
                "payload": {"approved": True},
                "createdAt": "2026-02-02T15:52:06.500Z",
                "deliveredAt": "2026-02-02T15:52:06.510Z",
                "consumedByStepKey": "approval",
            }
        ],
        "eventsHasNextPage": False,
    }  # like the API: a cursor field is absent when there is no next page
    if logs is not None:
        page.update(logs=logs, logsHasNextPage=False)
    page.update(extra)
    return page


def test_history_sends_query_and_prints_sections(api: FakeApi) -> None:
    api.on("GET", HISTORY, (200, history_page([log("l1", "hello", stepKey="record", attempt=1)])))
    result = api.run(
        "instances", "history", "-w", "approvals", "-i", "inst_1", "--run", "0", "--include-logs",
        "--order", "asc", "--page-size", "50",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert dict(api.last.url.params) == {
        "runNumber": "0",
        "includeLogs": "true",
        "order": "asc",
        "pageSize": "50",
    }
    out = result.stdout
    assert out.startswith("Run 0\n\nSteps (2):\n  STEP")
    assert "record    do" in out and '{"ok":true}' in out
    assert "Events (1):" in out and "evt_1" in out and '{"approved":true}' in out
    assert "Logs (1):" in out and "INFO  [record (attempt 1)] hello" in out


def test_history_without_logs_has_no_logs_section(api: FakeApi) -> None:
    api.on("GET", HISTORY, (200, history_page(stepsHasNextPage=True, stepsCursor="s2")))
    result = api.run("instances", "history", "-w", "approvals", "-i", "inst_1")
    assert result.exit_code == 0, result.output
    assert dict(api.last.url.params) == {}
    assert "Logs" not in result.stdout
    assert "More steps: --steps-cursor s2" in result.stdout


def test_history_json(api: FakeApi) -> None:
    api.on("GET", HISTORY, (200, history_page()))
    result = api.run("--json", "instances", "history", "-w", "approvals", "-i", "inst_1")
    assert json.loads(result.stdout) == history_page()


def test_history_rejects_bad_order(api: FakeApi) -> None:
    result = api.run("instances", "history", "-w", "a", "-i", "i", "--order", "up")
    assert result.exit_code == 2 and api.requests == []


def test_logs_reads_every_page_in_order(api: FakeApi) -> None:
    def pages(request: httpx.Request) -> httpx.Response:
        params = request.url.params
        assert params["order"] == "asc" and params["includeLogs"] == "true"
        if params.get("logsCursor") == "p2":
            return httpx.Response(200, json=history_page([log("l3", "third")]))
        first = history_page([log("l1", "first"), log("l2", "second", data={"n": 2})])
        return httpx.Response(200, json={**first, "logsCursor": "p2", "logsHasNextPage": True})

    api.on("GET", HISTORY, pages)
    result = api.run(*LOGS)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [line.split("INFO  ", 1)[1] for line in lines] == ["first", 'second {"n":2}', "third"]
    assert lines[0] == "2026-02-02T15:52:06.400Z INFO  first"


def test_logs_none(api: FakeApi) -> None:
    api.on("GET", HISTORY, (200, history_page([])))
    result = api.run(*LOGS)
    assert result.exit_code == 0 and result.stdout == "" and result.stderr == "No logs.\n"


def test_logs_json_is_one_object_per_line(api: FakeApi) -> None:
    api.on("GET", HISTORY, (200, history_page([log("l1", "a"), log("l2", "b")])))
    result = api.run(*LOGS, "--json")
    assert [json.loads(line)["id"] for line in result.stdout.splitlines()] == ["l1", "l2"]


def test_logs_follow_prints_new_lines_once_until_terminal(api: FakeApi) -> None:
    a, b, c = log("l1", "a"), log("l2", "b"), log("l3", "c")
    api.on(
        "GET",
        INSTANCE,
        (200, instance("running")),
        (200, instance("waiting")),
        (200, instance("running")),
        (200, instance("complete")),
    )
    api.on(
        "GET",
        HISTORY,
        (200, history_page([a])),
        (200, history_page([a])),
        (200, history_page([a, b])),
        (200, history_page([a, b, c])),
    )
    result = api.run(*LOGS, "--follow", "--interval", "5")
    assert result.exit_code == 0, result.output
    assert [line.rsplit(" ", 1)[1] for line in result.stdout.splitlines()] == ["a", "b", "c"]
    assert api.sleeps == [0.005] * 3


def test_logs_follow_resumes_from_the_last_page_cursor(api: FakeApi) -> None:
    seen_cursors: list[str | None] = []

    def pages(request: httpx.Request) -> httpx.Response:
        cursor = request.url.params.get("logsCursor")
        seen_cursors.append(cursor)
        if cursor is None:
            page = history_page([log("l1", "a")], logsCursor="p2", logsHasNextPage=True)
        elif len(seen_cursors) == 2:
            page = history_page([log("l2", "b")])
        else:
            page = history_page([log("l2", "b"), log("l3", "c")])
        return httpx.Response(200, json=page)

    api.on("GET", INSTANCE, (200, instance("running")), (200, instance("complete")))
    api.on("GET", HISTORY, pages)
    result = api.run(*LOGS, "-f")
    assert result.exit_code == 0, result.output
    assert seen_cursors == [None, "p2", "p2"]
    assert [line.rsplit(" ", 1)[1] for line in result.stdout.splitlines()] == ["a", "b", "c"]


def failed(attempt: int, message: str, at: str = "2026-02-02T15:52:06.100Z") -> dict[str, object]:
    return {"attempt": attempt, "error": {"name": "RuntimeError", "message": message}, "at": at}


def test_history_lists_each_failed_attempt_under_its_step(api: FakeApi) -> None:
    charge = step(
        "charge", type="do", status="completed", waitEventType=None, result="ok", attempts=3,
        maxAttempts=3, failedAttemptsTotal=2,
        failedAttempts=[failed(1, "card\nreader down"), failed(2, "x" * 300)],
    )  # fmt: skip
    record = step("record", type="do", status="completed", waitEventType=None, result=None)
    api.on("GET", HISTORY, (200, history_page(steps=[charge, record])))
    result = api.run("instances", "history", "-w", "approvals", "-i", "inst_1")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    at = lines.index(next(line for line in lines if line.startswith("  charge ")))
    assert lines[at + 1] == (
        "    attempt 1 failed 2026-02-02T15:52:06.100Z  RuntimeError: card reader down"
    )
    assert lines[at + 2].startswith(
        "    attempt 2 failed 2026-02-02T15:52:06.100Z  RuntimeError: x"
    )
    assert lines[at + 2].endswith("x…") and len(lines[at + 2]) < 200
    assert lines[at + 3].startswith("  record ")


def test_history_says_how_many_older_failed_attempts_were_dropped(api: FakeApi) -> None:
    kept = [failed(n, f"no {n}") for n in range(6, 26)]
    error = {"name": "RuntimeError", "message": "no 25"}
    doomed = step(
        "doomed", type="do", status="errored", waitEventType=None, attempts=25, maxAttempts=25,
        failedAttempts=kept, failedAttemptsTotal=25, error=error,
    )  # fmt: skip
    api.on("GET", HISTORY, (200, history_page(steps=[doomed])))
    out = api.run("instances", "history", "-w", "approvals", "-i", "inst_1").stdout
    assert "    (5 earlier failed attempts not kept)\n    attempt 6 failed" in out
    assert out.count(" failed 2026-") == 20


def test_history_log_filters_imply_include_logs(api: FakeApi) -> None:
    api.on("GET", HISTORY, (200, history_page([log("l1", "retrying", level="warn")])))
    result = api.run(
        "instances", "history", "-w", "approvals", "-i", "inst_1",
        "--log-level", "warn", "--log-category", "retry",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert dict(api.last.url.params) == {
        "includeLogs": "true",
        "logLevel": "warn",
        "logCategory": "retry",
    }
    assert "WARN  retrying" in result.stdout


def test_history_rejects_an_unknown_log_level(api: FakeApi) -> None:
    result = api.run("instances", "history", "-w", "a", "-i", "i", "--log-level", "loud")
    assert result.exit_code == 2 and api.requests == []
    assert "Traceback" not in result.output


def test_logs_sends_its_filters_with_every_page(api: FakeApi) -> None:
    def pages(request: httpx.Request) -> httpx.Response:
        params = request.url.params
        assert (params["logLevel"], params["logCategory"]) == ("error", "billing")
        if params.get("logsCursor") == "p2":
            return httpx.Response(200, json=history_page([log("l9", "second")]))
        first = history_page([log("l1", "first")], logsCursor="p2", logsHasNextPage=True)
        return httpx.Response(200, json=first)

    api.on("GET", HISTORY, pages)
    result = api.run(*LOGS, "--log-level", "error", "--log-category", "billing")
    assert result.exit_code == 0, result.output
    assert [line.rsplit(" ", 1)[1] for line in result.stdout.splitlines()] == ["first", "second"]
