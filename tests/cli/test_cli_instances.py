"""Admin commands: the request each one sends and what it prints."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from tests.cli.cli_support import FakeApi, instance, step

WF = "/approvals/instances"


def test_workflows_list(api: FakeApi) -> None:
    api.on("GET", "/", (200, {"workflows": [{"name": "approvals"}, {"name": "onboarding"}]}))
    result = api.run("workflows", "list")
    assert result.exit_code == 0, result.output
    assert api.last.method == "GET" and api.last.url.path == "/api/workflows/"
    assert result.stdout.splitlines() == ["WORKFLOW", "approvals", "onboarding"]


def test_workflows_list_empty_and_json(api: FakeApi) -> None:
    api.on("GET", "/", (200, {"workflows": []}))
    assert api.run("workflows", "list").stdout == "No workflows registered.\n"
    assert api.run("workflows", "list", "--json").stdout == '{\n  "workflows": []\n}\n'


def test_instances_list_sends_query_and_prints_table(api: FakeApi) -> None:
    page = {
        "instances": [
            {
                "id": "inst_2",
                "details": {"status": "waiting", "runNumber": 0},
                "params": {},
                "createdAt": "2026-02-02T15:52:06.284Z",
                "updatedAt": "2026-02-02T15:52:07.000Z",
            }
        ],
        "cursor": "c2",
        "nextCursor": "c2",
        "hasNextPage": True,
    }
    api.on("GET", WF, (200, page))
    result = api.run(
        "instances", "list", "-w", "approvals", "--status", "waiting", "--page-size", "10",
        "--cursor", "c1",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert dict(api.last.url.params) == {"status": "waiting", "pageSize": "10", "cursor": "c1"}
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["ID", "STATUS", "RUN", "CREATED", "UPDATED"]
    assert lines[1].split()[:3] == ["inst_2", "waiting", "0"]
    assert lines[-1] == "More instances: --cursor c2"


def test_instances_list_filters_waiting_for_pause_and_ends_without_a_cursor(api: FakeApi) -> None:
    api.on("GET", WF, (200, {"instances": [], "hasNextPage": False}))
    result = api.run("instances", "list", "-w", "approvals", "--status", "waitingForPause")
    assert result.exit_code == 0, result.output
    assert dict(api.last.url.params) == {"status": "waitingForPause"}
    assert result.stdout == "No instances.\n"


@pytest.mark.parametrize(
    "args", [("--status", "sleeping"), ("--status", "unknown"), ("--page-size", "0")]
)
def test_instances_list_rejects_bad_values(api: FakeApi, args: tuple[str, ...]) -> None:
    result = api.run("instances", "list", "-w", "approvals", *args)
    assert result.exit_code == 2 and api.requests == []


def test_get_shows_status_and_current_step(api: FakeApi) -> None:
    api.on("GET", f"{WF}/inst_1", (200, instance("waiting", step=step())))
    result = api.run("instances", "get", "-w", "approvals", "-i", "inst_1")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[:4] == [
        "Instance inst_1 (approvals)",
        "Status: waiting",
        "Run: 0",
        'Current step: approval (waitForEvent, waiting), waiting for event "approval"',
    ]
    assert "Params" not in result.stdout


def test_get_full_shows_params_and_output(api: FakeApi) -> None:
    body = instance("complete", output={"approved": True})
    api.on("GET", f"{WF}/inst_1", (200, body))
    result = api.run("instances", "get", "-w", "approvals", "-i", "inst_1", "--full")
    assert result.exit_code == 0, result.output
    assert 'Output: {"approved":true}' in result.stdout
    assert "Params: {\n" in result.stdout and '"amount": 125' in result.stdout


def test_get_errored_shows_error(api: FakeApi) -> None:
    body = instance("errored", error={"name": "RuntimeError", "message": "boom"})
    api.on("GET", f"{WF}/inst_1", (200, body))
    result = api.run("instances", "get", "-w", "approvals", "-i", "inst_1")
    assert "Status: errored\nError: RuntimeError: boom" in result.stdout


def test_ids_are_escaped_in_paths(api: FakeApi) -> None:
    api.on("GET", f"{WF}/order:42", (200, instance(id="order:42")))
    result = api.run("instances", "get", "-w", "approvals", "-i", "order:42")
    assert result.exit_code == 0, result.output
    assert api.last.url.raw_path == b"/api/workflows/approvals/instances/order%3A42"


def test_create_generates_an_id_and_sends_params(api: FakeApi) -> None:
    api.on("POST", WF, lambda r: _created(r, 201))
    result = api.run(
        "instances", "create", "-b", "http://127.0.0.1:8000/api/workflows", "-w", "approvals",
        "--params", '{"requestId":"req_1","amount":125}',
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    body = api.body()
    assert re.fullmatch(r"inst_[0-9a-f]{32}", body["id"])
    assert body["params"] == {"requestId": "req_1", "amount": 125}
    assert api.last.headers["content-type"] == "application/json"
    assert result.stdout == f"Created instance {body['id']}\nStatus: queued\n"


def test_create_retry_of_generated_id_still_reads_created(api: FakeApi) -> None:
    api.on("POST", WF, (503, {"message": "down", "code": "SERVICE_UNAVAILABLE"}))
    api.routes[("POST", "/api/workflows" + WF)].append(lambda r: _created(r, 200))
    result = api.run("instances", "create", "-w", "approvals")
    assert result.exit_code == 0, result.output
    assert api.body(0) == api.body(1) and "params" not in api.body(0)
    assert result.stdout.startswith("Created instance inst_")


def test_create_with_existing_id(api: FakeApi) -> None:
    api.on("POST", WF, (200, {"id": "inst_1", "details": {"status": "waiting", "runNumber": 0}}))
    result = api.run("instances", "create", "-w", "approvals", "-i", "inst_1")
    assert result.exit_code == 0, result.output
    assert api.body() == {"id": "inst_1"}
    assert result.stdout == "Instance inst_1 already exists\nStatus: waiting\n"


def test_create_json_prints_the_api_response(api: FakeApi) -> None:
    api.on("POST", WF, (201, {"id": "inst_9", "details": {"status": "queued", "runNumber": 0}}))
    result = api.run("instances", "create", "-w", "approvals", "-i", "inst_9", "--json")
    assert result.exit_code == 0, result.output
    assert '"id": "inst_9"' in result.stdout and "Created" not in result.stdout


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (("instances", "create", "-w", "approvals", "--params", "{bad"), "--params"),
        (
            ("instances", "send-event", "-w", "a", "-i", "i", "-t", "x", "--payload", "tru"),
            "--payload",
        ),
    ],
)
def test_invalid_json_exits_2(api: FakeApi, args: tuple[str, ...], option: str) -> None:
    result = api.run(*args)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: {option} is not valid JSON: ")
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.output
    assert api.requests == []


def test_send_event(api: FakeApi) -> None:
    reply = {"accepted": True, "status": {"status": "waiting", "runNumber": 0}}
    api.on("POST", f"{WF}/inst_1/events", (200, reply))
    result = api.run(
        "instances", "send-event", "-w", "approvals", "-i", "inst_1", "-t", "approval",
        "--payload", '{"approved":true}',
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    body = api.body()
    assert body["type"] == "approval" and body["payload"] == {"approved": True}
    assert re.fullmatch(r"evt_[0-9a-f]{32}", body["id"])
    assert result.stdout == 'Sent event "approval" to instance inst_1.\nStatus before: waiting\n'


def test_send_event_with_client_id_and_no_payload(api: FakeApi) -> None:
    api.on("POST", f"{WF}/inst_1/events", (200, {"accepted": True, "status": {"status": "x"}}))
    result = api.run(
        "instances", "send-event", "-w", "approvals", "-i", "inst_1", "-t", "ping",
        "--event-id", "evt_fixed",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert api.body() == {"type": "ping", "id": "evt_fixed"}


@pytest.mark.parametrize(
    ("action", "done"),
    [
        ("pause", "paused"),
        ("resume", "resumed"),
        ("terminate", "terminated"),
        ("restart", "restarted"),
    ],
)
def test_control_commands(api: FakeApi, action: str, done: str) -> None:
    api.on("POST", f"{WF}/inst_1/{action}", (200, {"ok": True}))
    result = api.run("instances", action, "-w", "approvals", "-i", "inst_1")
    assert result.exit_code == 0, result.output
    assert api.last.method == "POST" and api.last.content == b""
    assert result.stdout == f"Instance inst_1 {done}.\n"
    assert api.run("instances", action, "-w", "approvals", "-i", "inst_1", "--json").stdout == (
        '{\n  "ok": true\n}\n'
    )


def test_control_command_on_terminal_instance_fails(api: FakeApi) -> None:
    body = {"message": "instance 'inst_1' is complete", "code": "INSTANCE_TERMINAL"}
    api.on("POST", f"{WF}/inst_1/pause", (409, body))
    result = api.run("instances", "pause", "-w", "approvals", "-i", "inst_1")
    assert result.exit_code == 1
    assert (
        result.stderr == "Request failed: 409 instance 'inst_1' is complete (INSTANCE_TERMINAL)\n"
    )
    assert len(api.requests) == 1


def _retry_reply() -> dict[str, object]:
    return {
        "accepted": True,
        "instance": {"id": "inst_1", "details": {"status": "waiting", "runNumber": 0}},
        "retry": {
            "stepKey": "charge",
            "attempts": 3,
            "maxAttempts": 4,
            "scheduledAt": "2026-02-02T15:52:08.284Z",
        },
    }


def test_retry_step_with_delay(api: FakeApi) -> None:
    api.on("POST", f"{WF}/inst_1/retry-failed-step", (200, _retry_reply()))
    result = api.run("instances", "retry-step", "-w", "approvals", "-i", "inst_1", "--delay", "2 s")
    assert result.exit_code == 0, result.output
    assert api.body() == {"delayMs": 2000}
    assert result.stdout.splitlines() == [
        "Retrying step charge of instance inst_1 at 2026-02-02T15:52:08.284Z (attempts 3/4).",
        "Status: waiting",
    ]


def test_retry_step_without_delay(api: FakeApi) -> None:
    api.on("POST", f"{WF}/inst_1/retry-failed-step", (200, _retry_reply()))
    assert api.run("instances", "retry-step", "-w", "approvals", "-i", "inst_1").exit_code == 0
    assert api.body() == {}


def test_retry_step_rejects_a_bad_duration(api: FakeApi) -> None:
    result = api.run("instances", "retry-step", "-w", "a", "-i", "i", "--delay", "soon")
    assert result.exit_code == 2
    assert "invalid duration 'soon'" in result.stderr and len(result.stderr.splitlines()) == 1
    assert api.requests == []


def _created(request: httpx.Request, status: int) -> httpx.Response:
    instance_id = json.loads(request.content)["id"]
    details = {"status": "queued", "runNumber": 0}
    return httpx.Response(status, json={"id": instance_id, "details": details})
