"""The Idempotency-Key header: a retried call acts once and answers like the first one."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from durable import keys
from durable.client import IDEMPOTENCY_TTL_MS, keyed_id
from durable.partitions import Layout
from durable.settings import Settings
from tests.api.api_support import MOUNT, create, run_until, status_of, tick, url
from tests.helpers import sync_redis

KEY = "Idempotency-Key"
NOTE = {"type": "note"}


def post(http: TestClient, *path: str, key: str | None, json: Any = None) -> Any:
    headers = {KEY: key} if key is not None else {}
    return http.post(url(*path), json=json, headers=headers)


def run_number(http: TestClient, wf: str, instance_id: str) -> int:
    number: int = http.get(url(wf, "instances", instance_id)).json()["details"]["runNumber"]
    return number


def history(http: TestClient, wf: str, instance_id: str) -> dict[str, Any]:
    body: dict[str, Any] = http.get(url(wf, "instances", instance_id, "history")).json()
    return body


@pytest.mark.parametrize("bad", ["", "x" * 129, "has space", "a/b", "key#1", "semi;colon"])
@pytest.mark.parametrize(
    "path",
    [
        ("plain", "instances"),
        ("plain", "instances", "v1", "events"),
        ("plain", "instances", "v1", "pause"),
        ("plain", "instances", "v1", "resume"),
        ("plain", "instances", "v1", "terminate"),
        ("plain", "instances", "v1", "restart"),
        ("plain", "instances", "v1", "retry-failed-step"),
    ],
)
def test_a_malformed_key_is_a_validation_error(
    http: TestClient, path: tuple[str, ...], bad: str
) -> None:
    create(http, "plain", id="v1")
    body = {"type": "go"} if path[-1] == "events" else None
    response = post(http, *path, key=bad, json=body)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert "Idempotency-Key" in response.json()["message"]
    assert run_number(http, "plain", "v1") == 0
    assert status_of(http, "plain", "v1") == "queued"


def test_the_longest_key_and_every_allowed_character_are_accepted(http: TestClient) -> None:
    create(http, "plain", id="ok1")
    for key in ("A-z_0.9:x", "k" * 128):
        assert post(http, "plain", "instances", "ok1", "pause", key=key).status_code == 200


def test_restart_with_the_same_key_starts_one_run(http: TestClient) -> None:
    create(http, "plain", id="r1")
    first = post(http, "plain", "instances", "r1", "restart", key="restart-1")
    again = post(http, "plain", "instances", "r1", "restart", key="restart-1")
    assert (first.status_code, again.status_code) == (200, 200)
    assert first.json() == again.json() == {"ok": True}
    assert run_number(http, "plain", "r1") == 1
    post(http, "plain", "instances", "r1", "restart", key="restart-2")
    assert run_number(http, "plain", "r1") == 2


def test_a_restart_key_is_remembered_across_other_restarts(http: TestClient) -> None:
    create(http, "plain", id="r2")
    post(http, "plain", "instances", "r2", "restart", key="mine")
    post(http, "plain", "instances", "r2", "restart", key="someone-else")
    assert post(http, "plain", "instances", "r2", "restart", key="mine").json() == {"ok": True}
    assert run_number(http, "plain", "r2") == 2


def test_restart_without_a_key_acts_on_every_call(http: TestClient) -> None:
    create(http, "plain", id="r3")
    for _ in range(2):
        assert http.post(url("plain", "instances", "r3", "restart")).status_code == 200
    assert run_number(http, "plain", "r3") == 2


def test_terminate_with_the_same_key_answers_ok_again(http: TestClient) -> None:
    create(http, "nap", id="t1")
    first = post(http, "nap", "instances", "t1", "terminate", key="stop-1")
    again = post(http, "nap", "instances", "t1", "terminate", key="stop-1")
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json() == {"ok": True}
    other = post(http, "nap", "instances", "t1", "terminate", key="stop-2")
    assert other.status_code == 409
    assert other.json()["code"] == "INSTANCE_TERMINAL"


def test_a_retried_terminate_does_not_stop_a_later_run(http: TestClient) -> None:
    create(http, "nap", id="t2")
    post(http, "nap", "instances", "t2", "terminate", key="stop")
    post(http, "nap", "instances", "t2", "restart", key="again")
    assert post(http, "nap", "instances", "t2", "terminate", key="stop").status_code == 200
    assert status_of(http, "nap", "t2") == "queued"
    assert run_number(http, "nap", "t2") == 1


def test_one_key_used_for_two_operations_acts_for_each(http: TestClient) -> None:
    create(http, "nap", id="t3")
    post(http, "nap", "instances", "t3", "terminate", key="same")
    assert post(http, "nap", "instances", "t3", "restart", key="same").status_code == 200
    assert status_of(http, "nap", "t3") == "queued"
    assert run_number(http, "nap", "t3") == 1


def test_retry_failed_step_with_the_same_key_answers_the_first_body(http: TestClient) -> None:
    create(http, "flaky", id="f1")
    run_until(http, "flaky", "f1", "errored")
    first = post(http, "flaky", "instances", "f1", "retry-failed-step", key="retry-1")
    assert first.status_code == 200, first.text
    again = post(http, "flaky", "instances", "f1", "retry-failed-step", key="retry-1")
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    run_until(http, "flaky", "f1", "complete")
    late = post(http, "flaky", "instances", "f1", "retry-failed-step", key="retry-1")
    assert late.json() == first.json()
    (step,) = history(http, "flaky", "f1")["steps"]
    assert (step["attempts"], step["maxAttempts"], step["status"]) == (2, 2, "completed")


def test_retry_failed_step_with_another_key_acts_again(http: TestClient) -> None:
    create(http, "flaky", id="f2")
    run_until(http, "flaky", "f2", "errored")
    assert post(http, "flaky", "instances", "f2", "retry-failed-step", key="a").status_code == 200
    other = post(http, "flaky", "instances", "f2", "retry-failed-step", key="b")
    assert other.status_code == 409
    assert other.json()["code"] == "INSTANCE_NOT_ERRORED"


def test_retry_failed_step_errors_are_not_remembered(http: TestClient) -> None:
    create(http, "flaky", id="f3")
    early = post(http, "flaky", "instances", "f3", "retry-failed-step", key="early")
    assert early.json()["code"] == "INSTANCE_NOT_ERRORED"
    run_until(http, "flaky", "f3", "errored")
    later = post(http, "flaky", "instances", "f3", "retry-failed-step", key="early")
    assert later.status_code == 200, later.text
    assert later.json()["retry"]["stepKey"] == "wobbly"


def test_create_without_an_id_and_the_same_key_creates_one_instance(http: TestClient) -> None:
    body = {"params": {"name": "Ada"}}
    first = post(http, "greet", "instances", key="order-7", json=body)
    again = post(http, "greet", "instances", key="order-7", json=body)
    assert (first.status_code, again.status_code) == (201, 201)
    assert first.json()["id"] == again.json()["id"] == keyed_id("greet", "order-7")
    other = post(http, "greet", "instances", key="order-8", json=body)
    assert other.status_code == 201
    assert other.json()["id"] != first.json()["id"]
    listed = http.get(url("greet", "instances")).json()["instances"]
    assert sorted(i["id"] for i in listed) == sorted([first.json()["id"], other.json()["id"]])


def test_a_retried_create_reports_the_instance_as_it_is_now(http: TestClient) -> None:
    first = post(http, "plain", "instances", key="c-now", json={"params": {"n": 1}})
    tick(http)
    again = post(http, "plain", "instances", key="c-now", json={"params": {"n": 2}})
    assert again.status_code == 201
    assert again.json()["details"]["status"] == "complete"
    assert again.json()["details"]["output"] == {"n": 1}
    assert again.json()["id"] == first.json()["id"]


def test_create_with_an_id_and_a_key_answers_201_to_its_own_retry(http: TestClient) -> None:
    first = post(http, "plain", "instances", key="c-1", json={"id": "given"})
    again = post(http, "plain", "instances", key="c-1", json={"id": "given"})
    assert (first.status_code, again.status_code) == (201, 201)
    other = post(http, "plain", "instances", key="c-2", json={"id": "given"})
    assert other.status_code == 200
    assert http.post(url("plain", "instances"), json={"id": "given"}).status_code == 200


def test_an_id_made_by_another_create_is_not_claimed_by_a_key(http: TestClient) -> None:
    taken = keyed_id("plain", "c-3")
    assert http.post(url("plain", "instances"), json={"id": taken}).status_code == 201
    response = post(http, "plain", "instances", key="c-3")
    assert response.status_code == 200
    assert response.json()["id"] == taken


def test_send_event_without_an_id_uses_the_key_as_its_id(http: TestClient) -> None:
    create(http, "approval", id="e1")
    for _ in range(2):
        response = post(http, "approval", "instances", "e1", "events", key="evt-1", json=NOTE)
        assert response.status_code == 200, response.text
    post(http, "approval", "instances", "e1", "events", key="evt-2", json=NOTE)
    events = history(http, "approval", "e1")["events"]
    assert sorted(e["id"] for e in events) == ["evt-1", "evt-2"]


def test_a_body_event_id_wins_over_the_key(http: TestClient) -> None:
    create(http, "approval", id="e2")
    for key in ("k-1", "k-2"):
        body = {"type": "note", "id": "from-body"}
        assert post(http, "approval", "instances", "e2", "events", key=key, json=body).is_success
    assert [e["id"] for e in history(http, "approval", "e2")["events"]] == ["from-body"]


def test_pause_and_resume_accept_a_key(http: TestClient) -> None:
    create(http, "nap", id="p1")
    for action, status in (("pause", "paused"), ("pause", "paused"), ("resume", "queued")):
        response = post(http, "nap", "instances", "p1", action, key="pr-1")
        assert response.json() == {"ok": True}
        assert status_of(http, "nap", "p1") == status


def test_a_key_is_remembered_for_a_day(http: TestClient, api_settings: Settings) -> None:
    create(http, "plain", id="ttl")
    post(http, "plain", "instances", "ttl", "restart", key="ttl-key")
    with sync_redis(api_settings.redis_url) as conn:
        meta = {
            k.decode(): v.decode()
            for k, v in conn.hgetall(keys.meta_key(api_settings.prefix)).items()
        }
        layout = Layout.from_fields(api_settings.prefix, meta)
        space = layout.space_of("plain", "ttl")
        ttl = conn.pttl(keys.idempotency_key(space, "plain", "ttl", "restart", "ttl-key"))
    assert IDEMPOTENCY_TTL_MS - 60_000 < ttl <= IDEMPOTENCY_TTL_MS == 24 * 3600 * 1000


def test_openapi_documents_the_header_on_mutating_routes(http: TestClient) -> None:
    paths = http.get(f"{MOUNT}/openapi.json").json()["paths"]
    instance = f"{MOUNT}/{{workflow}}/instances/{{id}}"
    mutating = [
        (f"{MOUNT}/{{workflow}}/instances", "post"),
        *((f"{instance}/{a}", "post") for a in ("pause", "resume", "terminate", "restart")),
        (f"{instance}/events", "post"),
        (f"{instance}/retry-failed-step", "post"),
    ]
    for path, method in mutating:
        names = [p["name"] for p in paths[path][method]["parameters"] if p["in"] == "header"]
        assert names == [KEY], path
    header_free = [p for p in paths[instance]["get"]["parameters"] if p["in"] == "header"]
    assert header_free == []
