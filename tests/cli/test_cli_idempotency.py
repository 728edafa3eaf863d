"""Every mutating request carries an Idempotency-Key; its retries resend the same one."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.cli.cli_support import FakeApi, instance

KEY = "Idempotency-Key"
BASE = ("-w", "approvals", "-i", "inst_1")
PATH = "/approvals/instances/inst_1"
UNAVAILABLE = (503, {"message": "the workflow store is unavailable", "code": "SERVICE_UNAVAILABLE"})
RETRY_BODY = {
    "accepted": True,
    "instance": {"id": "inst_1", "details": {"status": "waiting", "runNumber": 0}},
    "retry": {
        "stepKey": "s",
        "attempts": 1,
        "maxAttempts": 2,
        "scheduledAt": "2026-01-01T00:00:00.000Z",
    },
}


def lost_reply(request: httpx.Request) -> httpx.Response:
    raise httpx.RemoteProtocolError("Server disconnected without sending a response.")


def test_retries_of_one_command_resend_its_key(api: FakeApi) -> None:
    api.on("POST", f"{PATH}/restart", lost_reply, UNAVAILABLE, (200, {"ok": True}))
    result = api.run("instances", "restart", *BASE)
    assert result.exit_code == 0, result.output
    sent = [request.headers.get(KEY) for request in api.requests]
    assert len(sent) == 3
    assert sent[0] is not None and re.fullmatch(r"[A-Za-z0-9_.:-]{1,128}", sent[0])
    assert sent == [sent[0]] * 3


def test_each_command_sends_a_fresh_key(api: FakeApi) -> None:
    api.on("POST", f"{PATH}/terminate", (200, {"ok": True}))
    for _ in range(2):
        assert api.run("instances", "terminate", *BASE).exit_code == 0
    first, second = (request.headers[KEY] for request in api.requests)
    assert first != second


@pytest.mark.parametrize(
    ("args", "path", "reply"),
    [
        (("create", "-w", "approvals"), "/approvals/instances", (201, instance())),
        (("send-event", *BASE, "-t", "go"), f"{PATH}/events", (200, {"accepted": True})),
        (("pause", *BASE), f"{PATH}/pause", (200, {"ok": True})),
        (("resume", *BASE), f"{PATH}/resume", (200, {"ok": True})),
        (("retry-step", *BASE), f"{PATH}/retry-failed-step", (200, RETRY_BODY)),
    ],
)
def test_every_mutating_command_sends_a_key(
    api: FakeApi, args: tuple[str, ...], path: str, reply: tuple[int, object]
) -> None:
    api.on("POST", path, reply)
    result = api.run("instances", *args)
    assert result.exit_code == 0, result.output
    assert KEY in api.last.headers


def test_reads_send_no_key(api: FakeApi) -> None:
    api.on("GET", PATH, (200, instance()))
    assert api.run("instances", "get", *BASE).exit_code == 0
    assert KEY not in api.last.headers


def test_a_key_given_as_a_header_is_sent_as_it_is(api: FakeApi) -> None:
    api.on("POST", f"{PATH}/restart", UNAVAILABLE, (200, {"ok": True}))
    result = api.run("instances", "restart", *BASE, "-H", "idempotency-key: deploy-42")
    assert result.exit_code == 0, result.output
    assert [request.headers.get_list(KEY) for request in api.requests] == [["deploy-42"]] * 2
