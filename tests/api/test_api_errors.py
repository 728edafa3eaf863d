"""One test per error code and per kind of bad input: each answers the JSON error envelope."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.api.api_support import MOUNT, AppFactory, create, url
from tests.helpers import free_port

MIB = 1024 * 1024


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    assert isinstance(body["message"], str) and body["message"]
    assert "Traceback" not in response.text
    return body


def post_raw(http: TestClient, path: str, content: bytes, **headers: str) -> Any:
    return http.post(path, content=content, headers={"content-type": "application/json", **headers})


# -- bodies -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [b"{", b"{'id': 1}", b"\xff\xfe{}", b'{"id": NaN}', b"[1]", b'"text"', b"42", b"null"],
    ids=["truncated", "single-quotes", "not-utf8", "nan", "array", "string", "number", "null"],
)
def test_malformed_or_non_object_json_is_a_validation_error(http: TestClient, raw: bytes) -> None:
    assert_error(post_raw(http, url("plain", "instances"), raw), 400, "VALIDATION_ERROR")


def test_deeply_nested_json_is_a_validation_error_not_a_crash(http: TestClient) -> None:
    raw = b'{"params": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert_error(post_raw(http, url("plain", "instances"), raw), 400, "VALIDATION_ERROR")


@pytest.mark.parametrize(
    ("route", "body", "path"),
    [
        (("plain", "instances"), {"id": 7}, "id"),
        (("plain", "instances"), {"params": {}, "extra": True}, "extra"),
        (("plain", "instances", "batch"), {"instances": [{"params": {}}]}, "instances.0.id"),
        (("plain", "instances", "batch"), {"instances": "all"}, "instances"),
        (("plain", "instances", "x", "events"), {"payload": {}}, "type"),
        (("plain", "instances", "x", "events"), {"type": ["a"]}, "type"),
        (("plain", "instances", "x", "retry-failed-step"), {"delayMs": "5"}, "delayMs"),
        (("plain", "instances", "x", "retry-failed-step"), {"delayMs": -1}, "delayMs"),
        (("plain", "instances", "x", "pause"), {"reason": "x"}, "reason"),
        (("_runner", "tick"), {"maxInstances": 0}, "maxInstances"),
        (("_runner", "tick"), {"maxSteps": True}, "maxSteps"),
    ],
)
def test_wrong_body_types_list_their_issues(
    http: TestClient, route: tuple[str, ...], body: dict[str, Any], path: str
) -> None:
    error = assert_error(http.post(url(*route), json=body), 400, "VALIDATION_ERROR")
    assert path in [issue["path"] for issue in error["issues"]]
    assert all(set(issue) == {"path", "message"} for issue in error["issues"])


def test_a_required_body_may_not_be_empty(http: TestClient) -> None:
    create(http, "approval", id="x")
    assert_error(http.post(url("approval", "instances", "x", "events")), 400, "VALIDATION_ERROR")


def test_batch_over_1000_items_is_rejected(http: TestClient) -> None:
    items = [{"id": f"i{n}"} for n in range(1001)]
    response = http.post(url("plain", "instances", "batch"), json={"instances": items})
    assert_error(response, 400, "VALIDATION_ERROR")
    assert http.get(url("plain", "instances", "i0")).status_code == 404


def test_body_over_the_limit_by_content_length_is_413(http: TestClient) -> None:
    raw = b'{"params": "' + b"x" * MIB + b'"}'
    assert_error(post_raw(http, url("plain", "instances"), raw), 413, "PAYLOAD_TOO_LARGE")


def test_an_absurd_content_length_is_413(http: TestClient) -> None:
    headers = {"content-type": "application/json", "content-length": "9" * 40}
    response = http.post(url("plain", "instances"), content=b"{}", headers=headers)
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")


def test_chunked_body_over_the_limit_is_413(http: TestClient) -> None:
    def chunks() -> Any:
        yield b'{"params": "'
        for _ in range(20):
            yield b"x" * 65_536
        yield b'"}'

    response = http.post(
        url("plain", "instances"), content=chunks(), headers={"content-type": "application/json"}
    )
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")


def test_the_body_limit_is_configurable(make_client: AppFactory) -> None:
    http = make_client(max_body_bytes=64)
    body = {"params": {"text": "x" * 100}}
    assert_error(http.post(url("plain", "instances"), json=body), 413, "PAYLOAD_TOO_LARGE")


def test_params_over_the_payload_limit_is_413(make_client: AppFactory) -> None:
    http = make_client(max_payload_bytes=1000)
    body = {"params": {"text": "x" * 2000}}
    assert_error(http.post(url("plain", "instances"), json=body), 413, "PAYLOAD_TOO_LARGE")


def test_event_payload_over_the_payload_limit_is_413(make_client: AppFactory) -> None:
    http = make_client(max_payload_bytes=1000)
    create(http, "approval", id="big")
    event = {"type": "approval", "payload": "x" * 2000}
    response = http.post(url("approval", "instances", "big", "events"), json=event)
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")


def test_non_json_content_type_is_415(http: TestClient) -> None:
    response = http.post(
        url("plain", "instances"), content=b"id=1", headers={"content-type": "text/plain"}
    )
    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")


def test_json_content_types_with_parameters_are_accepted(http: TestClient) -> None:
    for content_type in ("application/json; charset=utf-8", "application/merge-patch+json"):
        response = http.post(
            url("plain", "instances"), content=b"{}", headers={"content-type": content_type}
        )
        assert response.status_code == 201


# -- routing ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/nope", f"{MOUNT}/plain", f"{MOUNT}/plain/instances/x/unknown", f"{MOUNT}/plain/instances/"],
)
def test_unknown_routes_are_404_route_not_found(http: TestClient, path: str) -> None:
    assert_error(http.get(path), 404, "ROUTE_NOT_FOUND")


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", f"{MOUNT}/plain/instances/x", {"GET", "HEAD"}),
        ("GET", f"{MOUNT}/_runner/tick", {"POST"}),
        ("PUT", f"{MOUNT}/plain/instances", {"GET", "HEAD", "POST"}),
        ("GET", f"{MOUNT}/plain/instances/x/pause", {"POST"}),
    ],
)
def test_wrong_methods_are_405(http: TestClient, method: str, path: str, allowed: set[str]) -> None:
    response = http.request(method, path)
    assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert {m.strip() for m in response.headers["allow"].split(",")} == allowed


# -- ids, lookups and conflicts -----------------------------------------------------------------


@pytest.mark.parametrize("bad_id", ["has space", "#hash", "-leading-dash", "x" * 129, "é"])
def test_bad_instance_ids_on_create(http: TestClient, bad_id: str) -> None:
    response = http.post(url("plain", "instances"), json={"id": bad_id})
    assert_error(response, 400, "INVALID_INSTANCE_ID")


def test_bad_instance_id_in_the_path(http: TestClient) -> None:
    assert_error(http.get(url("plain", "instances", "bad%20id")), 400, "INVALID_INSTANCE_ID")


def test_bad_event_type_is_a_validation_error(http: TestClient) -> None:
    create(http, "approval", id="x")
    response = http.post(url("approval", "instances", "x", "events"), json={"type": "no spaces"})
    assert_error(response, 400, "VALIDATION_ERROR")


def test_unknown_workflow_is_404(http: TestClient) -> None:
    assert_error(http.get(url("ghost", "instances")), 404, "WORKFLOW_NOT_FOUND")
    assert_error(http.post(url("ghost", "instances"), json={}), 404, "WORKFLOW_NOT_FOUND")


def test_unknown_instance_is_404(http: TestClient) -> None:
    assert_error(http.get(url("plain", "instances", "missing")), 404, "INSTANCE_NOT_FOUND")
    response = http.post(url("plain", "instances", "missing", "pause"))
    assert_error(response, 404, "INSTANCE_NOT_FOUND")


def test_params_are_validated_against_the_workflow_model(http: TestClient) -> None:
    response = http.post(url("greet", "instances"), json={"params": {"name": 42}})
    error = assert_error(response, 400, "WORKFLOW_PARAMS_INVALID")
    assert error["issues"] and all(set(i) >= {"path", "message"} for i in error["issues"])


@pytest.mark.parametrize("action", ["pause", "resume", "terminate"])
def test_control_on_a_terminal_instance_is_409(http: TestClient, action: str) -> None:
    create(http, "nap", id="done")
    assert http.post(url("nap", "instances", "done", "terminate")).status_code == 200
    response = http.post(url("nap", "instances", "done", action))
    assert_error(response, 409, "INSTANCE_TERMINAL")


def test_event_to_a_terminal_instance_is_409(http: TestClient) -> None:
    create(http, "approval", id="done")
    assert http.post(url("approval", "instances", "done", "terminate")).status_code == 200
    response = http.post(url("approval", "instances", "done", "events"), json={"type": "late"})
    assert_error(response, 409, "INSTANCE_TERMINAL")


def test_retry_on_an_instance_that_is_not_errored_is_409(http: TestClient) -> None:
    create(http, "nap", id="fine")
    response = http.post(url("nap", "instances", "fine", "retry-failed-step"), json={})
    assert_error(response, 409, "INSTANCE_NOT_ERRORED")


# -- query values -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("route", "params"),
    [
        (("plain", "instances"), {"pageSize": "0"}),
        (("plain", "instances"), {"pageSize": "101"}),
        (("plain", "instances"), {"pageSize": "ten"}),
        (("plain", "instances"), {"pageSize": "1.5"}),
        (("plain", "instances"), {"pageSize": ""}),
        (("plain", "instances"), {"status": "sleeping"}),
        (("plain", "instances", "q", "history"), {"order": "up"}),
        (("plain", "instances", "q", "history"), {"runNumber": "-1"}),
        (("plain", "instances", "q", "history"), {"runNumber": "7"}),
        (("plain", "instances", "q", "history"), {"includeLogs": "yes"}),
        (("plain", "instances", "q", "history"), {"pageSize": "1000"}),
    ],
)
def test_bad_query_values_are_400(
    http: TestClient, route: tuple[str, ...], params: dict[str, str]
) -> None:
    create(http, "plain", id="q")
    assert_error(http.get(url(*route), params=params), 400, "VALIDATION_ERROR")


def test_garbage_cursors_are_400_invalid_cursor(http: TestClient) -> None:
    create(http, "plain", id="q")
    response = http.get(url("plain", "instances"), params={"cursor": "garbage!"})
    assert_error(response, 400, "INVALID_CURSOR")
    history = url("plain", "instances", "q", "history")
    assert_error(http.get(history, params={"stepsCursor": "zz"}), 400, "INVALID_CURSOR")


# -- runner tick, server errors, Redis down -----------------------------------------------------


def test_runner_tick_is_403_when_disabled(make_client: AppFactory) -> None:
    http = make_client(enable_runner_tick=False)
    assert_error(http.post(url("_runner", "tick")), 403, "RUNNER_TICK_DISABLED")


def test_unexpected_errors_are_500_with_a_generic_message(
    make_client: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(request: Any) -> bool:
        raise RuntimeError("secret internals")

    http = make_client(authorize=broken, raise_server_exceptions=False)
    response = http.get(MOUNT)
    body = assert_error(response, 500, "INTERNAL_SERVER_ERROR")
    assert "secret" not in response.text and body["message"] == "internal server error"
    assert "secret internals" in caplog.text


def test_health_is_503_when_redis_is_down(make_client: AppFactory) -> None:
    http = make_client(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    response = http.get(f"{MOUNT}/health")
    assert response.status_code == 503
    body = response.json()
    assert body["ok"] is False and body["redis"] == "down"
    assert body["code"] == "SERVICE_UNAVAILABLE"


def test_routes_are_503_when_redis_is_down(make_client: AppFactory) -> None:
    http = make_client(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    assert_error(http.get(url("plain", "instances")), 503, "SERVICE_UNAVAILABLE")
    assert_error(http.post(url("plain", "instances"), json={}), 503, "SERVICE_UNAVAILABLE")


@pytest.mark.parametrize("value", [b"abc", b"\xb2", b"-1", b"1e3"])
def test_an_invalid_content_length_is_a_validation_error(http: TestClient, value: bytes) -> None:
    headers = {b"content-type": b"application/json", b"content-length": value}
    response = http.post(url("plain", "instances"), content=b"{}", headers=headers)
    assert_error(response, 400, "VALIDATION_ERROR")


def test_a_trailing_newline_does_not_make_a_number(http: TestClient) -> None:
    response = http.get(url("plain", "instances"), params={"pageSize": "5\n"})
    assert_error(response, 400, "VALIDATION_ERROR")
