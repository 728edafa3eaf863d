"""Requests: retries on network errors, 5xx and 429 with backoff; error reporting."""

from __future__ import annotations

import httpx
from click.testing import CliRunner

from durable.cli.main import cli
from durable.cli.options import CliState
from tests.cli.cli_support import FakeApi, instance

GET = ("instances", "get", "-w", "approvals", "-i", "inst_1")
PATH = "/approvals/instances/inst_1"
URL = "http://127.0.0.1:8000/api/workflows/approvals/instances/inst_1"
UNAVAILABLE = (503, {"message": "the workflow store is unavailable", "code": "SERVICE_UNAVAILABLE"})


def connect_error(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("[Errno 111] Connection refused", request=request)


def test_retries_503_then_succeeds_with_backoff(api: FakeApi) -> None:
    api.on("GET", PATH, UNAVAILABLE, UNAVAILABLE, (200, instance()))
    result = api.run(*GET)
    assert result.exit_code == 0, result.output
    assert len(api.requests) == 3
    assert api.sleeps == [0.5, 1.0]


def test_retries_429_and_retry_delay_option(api: FakeApi) -> None:
    api.on("GET", PATH, (429, {"message": "slow down", "code": "RATE_LIMITED"}), (200, instance()))
    result = api.run(*GET, "--retry-delay", "20")
    assert result.exit_code == 0, result.output
    assert api.sleeps == [0.02]


def test_retries_network_errors(api: FakeApi) -> None:
    api.on("GET", PATH, connect_error, connect_error, (200, instance()))
    result = api.run(*GET)
    assert result.exit_code == 0, result.output
    assert len(api.requests) == 3


def test_network_failure_after_retries(api: FakeApi) -> None:
    api.on("GET", PATH, connect_error)
    result = api.run(*GET, "--retries", "3")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"Request failed: could not reach {URL}: [Errno 111] Connection refused"
    )
    assert len(api.requests) == 4 and api.sleeps == [0.5, 1.0, 2.0]


def test_timeout_is_a_network_failure(api: FakeApi) -> None:
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    api.on("GET", PATH, timeout)
    result = api.run(*GET, "--retries", "0")
    assert result.exit_code == 1
    assert result.stderr.strip() == f"Request failed: could not reach {URL}: timed out"


def test_server_errors_after_retries(api: FakeApi) -> None:
    api.on("GET", PATH, UNAVAILABLE)
    result = api.run(*GET)
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "Request failed: 503 the workflow store is unavailable (SERVICE_UNAVAILABLE)"
    )
    assert len(api.requests) == 3


def test_client_errors_are_not_retried(api: FakeApi) -> None:
    body = {"message": "instance 'inst_1' does not exist", "code": "INSTANCE_NOT_FOUND"}
    api.on("GET", PATH, (404, body))
    result = api.run(*GET)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.strip() == (
        "Request failed: 404 instance 'inst_1' does not exist (INSTANCE_NOT_FOUND)"
    )
    assert len(api.requests) == 1 and api.sleeps == []


def test_validation_issues_are_listed(api: FakeApi) -> None:
    body = {
        "message": "params do not match the workflow's schema",
        "code": "WORKFLOW_PARAMS_INVALID",
        "issues": [{"path": ["amount"], "message": "Input should be a valid integer"}],
    }
    api.on("POST", "/approvals/instances", (400, body))
    result = api.run("instances", "create", "-w", "approvals", "--params", '{"amount": "x"}')
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "Request failed: 400 params do not match the workflow's schema (WORKFLOW_PARAMS_INVALID)",
        "  amount: Input should be a valid integer",
    ]


def test_non_json_error_body(api: FakeApi) -> None:
    api.on("GET", PATH, httpx.Response(502, text="<html>bad gateway</html>"))
    result = api.run(*GET, "--retries", "0")
    assert result.exit_code == 1
    assert result.stderr.strip() == "Request failed: 502 Bad Gateway"


def test_non_json_success_body(api: FakeApi) -> None:
    api.on("GET", PATH, httpx.Response(200, text="hello"))
    result = api.run(*GET)
    assert result.exit_code == 1
    assert result.stderr.strip() == "Request failed: 200 response is not JSON"


def test_real_sleep_between_retries(api: FakeApi) -> None:
    api.on("GET", PATH, UNAVAILABLE, (200, instance()))
    state = CliState(transport=httpx.MockTransport(api.handler))
    result = CliRunner().invoke(cli, [*GET, "--retry-delay", "1"], obj=state)
    assert result.exit_code == 0, result.output
    assert len(api.requests) == 2
