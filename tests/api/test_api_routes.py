"""Every route of SPEC §5 on its success path, through Starlette's TestClient and a real Redis."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from tests.api.api_support import MOUNT, create, run_until, status_of, tick, url

ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def test_list_workflows_names_every_registered_workflow(http: TestClient) -> None:
    response = http.get(MOUNT)
    assert response.status_code == 200
    names = sorted(item["name"] for item in response.json()["workflows"])
    assert names == ["approval", "flaky", "greet", "nap", "plain"]
    assert http.get(f"{MOUNT}/").json() == response.json()


def test_create_generates_an_id_and_answers_201(http: TestClient) -> None:
    response = http.post(url("greet", "instances"), json={"params": {"name": "Ada"}})
    assert response.status_code == 201
    body = response.json()
    assert re.fullmatch(r"inst_[0-9a-f]{32}", body["id"])
    assert body["details"] == {"status": "queued", "runNumber": 0}


def test_create_with_an_existing_id_answers_200_unchanged(http: TestClient) -> None:
    first = http.post(url("greet", "instances"), json={"id": "a-1", "params": {"name": "Ada"}})
    again = http.post(url("greet", "instances"), json={"id": "a-1", "params": {"name": "Bob"}})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert http.get(url("greet", "instances", "a-1")).json()["meta"]["params"] == {"name": "Ada"}


def test_create_with_no_body_and_no_content_type(http: TestClient) -> None:
    response = http.post(url("plain", "instances"))
    assert response.status_code == 201
    assert response.json()["details"]["status"] == "queued"


def test_get_instance_has_details_and_meta(http: TestClient) -> None:
    create(http, "greet", id="g1", params={"name": "Ada"})
    body = http.get(url("greet", "instances", "g1")).json()
    assert body["id"] == "g1"
    assert body["details"]["status"] == "queued"
    meta = body["meta"]
    assert meta["workflowName"] == "greet"
    assert meta["runNumber"] == 0
    assert meta["params"] == {"name": "Ada"}
    assert meta["pauseRequested"] is False
    assert ISO.match(meta["createdAt"]) and ISO.match(meta["updatedAt"])


def test_instance_runs_to_completion_through_the_runner_tick(http: TestClient) -> None:
    create(http, "greet", id="g2", params={"name": "Ada"})
    assert run_until(http, "greet", "g2", "complete") == "complete"
    details = http.get(url("greet", "instances", "g2")).json()["details"]
    assert details == {"status": "complete", "runNumber": 0, "output": {"greeting": "hello Ada"}}


def test_list_instances_pages_newest_first(http: TestClient) -> None:
    for n in range(5):
        create(http, "plain", id=f"p{n}")
    seen: list[str] = []
    cursor = None
    for _ in range(3):
        params = {"pageSize": "2", **({"cursor": cursor} if cursor else {})}
        page = http.get(url("plain", "instances"), params=params).json()
        seen += [item["id"] for item in page["instances"]]
        if not page["hasNextPage"]:
            break
        cursor = page["cursor"]
        assert page["nextCursor"] == cursor
    assert seen == ["p4", "p3", "p2", "p1", "p0"]
    assert page["hasNextPage"] is False
    assert "cursor" not in page and "nextCursor" not in page


def test_list_instances_item_shape_and_status_filter(http: TestClient) -> None:
    create(http, "plain", id="keep", params={"x": 1})
    create(http, "plain", id="stop")
    assert http.post(url("plain", "instances", "stop", "terminate")).status_code == 200
    page = http.get(url("plain", "instances"), params={"status": "terminated"}).json()
    assert [item["id"] for item in page["instances"]] == ["stop"]
    everything = http.get(url("plain", "instances")).json()["instances"]
    keep = next(item for item in everything if item["id"] == "keep")
    assert set(keep) == {"id", "details", "params", "createdAt", "updatedAt"}
    assert keep["params"] == {"x": 1}


def test_batch_creates_in_input_order_and_skips_existing_ids(http: TestClient) -> None:
    create(http, "plain", id="b2")
    items = [{"id": "b3", "params": {"n": 3}}, {"id": "b2"}, {"id": "b1"}]
    response = http.post(url("plain", "instances", "batch"), json={"instances": items})
    assert response.status_code == 200
    created = response.json()["instances"]
    assert [item["id"] for item in created] == ["b3", "b1"]
    assert all(item["details"]["status"] == "queued" for item in created)


def test_batch_validates_all_params_before_creating_any(http: TestClient) -> None:
    items = [{"id": "ok", "params": {"name": "Ada"}}, {"id": "bad", "params": {"name": 5}}]
    response = http.post(url("greet", "instances", "batch"), json={"instances": items})
    assert response.status_code == 400
    assert response.json()["code"] == "WORKFLOW_PARAMS_INVALID"
    assert http.get(url("greet", "instances", "ok")).status_code == 404


def test_batch_accepts_exactly_the_limit_of_1000(http: TestClient) -> None:
    items = [{"id": f"many-{n}"} for n in range(1000)]
    response = http.post(url("plain", "instances", "batch"), json={"instances": items})
    assert response.status_code == 200
    assert len(response.json()["instances"]) == 1000


def test_history_shape_with_logs(http: TestClient) -> None:
    create(http, "greet", id="h1", params={"name": "Ada"})
    run_until(http, "greet", "h1", "complete")
    history = http.get(url("greet", "instances", "h1", "history"), params={"includeLogs": "true"})
    assert history.status_code == 200
    body = history.json()
    assert body["runNumber"] == 0
    assert [step["stepKey"] for step in body["steps"]] == ["hello"]
    assert body["steps"][0]["result"] == "hello Ada"
    assert body["stepsHasNextPage"] is False and body["eventsHasNextPage"] is False
    assert [log["message"] for log in body["logs"]] == ["greeting"]
    assert "logsCursor" not in body and body["logsHasNextPage"] is False


def test_history_without_logs_omits_them(http: TestClient) -> None:
    create(http, "plain", id="h2")
    body = http.get(url("plain", "instances", "h2", "history")).json()
    assert {"runNumber", "steps", "stepsHasNextPage", "events", "eventsHasNextPage"} <= set(body)
    assert "logs" not in body


def test_history_order_and_page_size(http: TestClient) -> None:
    create(http, "approval", id="h3")
    run_until(http, "approval", "h3", "waiting")
    for n in range(3):
        event = {"type": "other", "payload": {"n": n}}
        assert (
            http.post(url("approval", "instances", "h3", "events"), json=event).status_code == 200
        )
    path = url("approval", "instances", "h3", "history")
    asc = http.get(path, params={"order": "asc", "pageSize": "2"}).json()
    assert [e["payload"]["n"] for e in asc["events"]] == [0, 1]
    assert asc["eventsHasNextPage"] is True
    rest = http.get(
        path, params={"order": "asc", "pageSize": "2", "eventsCursor": asc["eventsCursor"]}
    )
    assert [e["payload"]["n"] for e in rest.json()["events"]] == [2]
    desc = http.get(path, params={"order": "desc"}).json()
    assert [e["payload"]["n"] for e in desc["events"]] == [2, 1, 0]


def test_send_event_reports_status_before_and_resumes_the_instance(http: TestClient) -> None:
    create(http, "approval", id="e1")
    run_until(http, "approval", "e1", "waiting")
    event = {"type": "approval", "payload": {"approved": True}, "id": "evt-1"}
    response = http.post(url("approval", "instances", "e1", "events"), json=event)
    assert response.status_code == 200
    body = response.json()
    assert body["accepted"] is True
    assert body["status"]["status"] == "waiting"
    run_until(http, "approval", "e1", "complete")
    details = http.get(url("approval", "instances", "e1")).json()["details"]
    assert details["output"] == {"approved": True}


def test_send_event_with_a_known_id_stores_nothing_new(http: TestClient) -> None:
    create(http, "approval", id="e2")
    event = {"type": "ping", "id": "same"}
    for _ in range(2):
        assert (
            http.post(url("approval", "instances", "e2", "events"), json=event).status_code == 200
        )
    events = http.get(url("approval", "instances", "e2", "history")).json()["events"]
    assert len(events) == 1


def test_pause_and_resume(http: TestClient) -> None:
    create(http, "nap", id="c1")
    assert http.post(url("nap", "instances", "c1", "pause")).json() == {"ok": True}
    assert status_of(http, "nap", "c1") == "paused"
    assert http.post(url("nap", "instances", "c1", "resume"), json={}).json() == {"ok": True}
    assert status_of(http, "nap", "c1") == "queued"


def test_terminate(http: TestClient) -> None:
    create(http, "nap", id="c2")
    assert http.post(url("nap", "instances", "c2", "terminate")).json() == {"ok": True}
    assert status_of(http, "nap", "c2") == "terminated"


def test_restart_starts_a_new_run_and_keeps_the_old_one_readable(http: TestClient) -> None:
    create(http, "greet", id="c3", params={"name": "Ada"})
    run_until(http, "greet", "c3", "complete")
    assert http.post(url("greet", "instances", "c3", "restart")).json() == {"ok": True}
    details = http.get(url("greet", "instances", "c3")).json()["details"]
    assert details == {"status": "queued", "runNumber": 1}
    path = url("greet", "instances", "c3", "history")
    assert http.get(path).json()["steps"] == []
    old = http.get(path, params={"runNumber": "0"}).json()
    assert old["runNumber"] == 0 and [s["stepKey"] for s in old["steps"]] == ["hello"]


def test_retry_failed_step_reopens_it_and_the_run_completes(http: TestClient) -> None:
    create(http, "flaky", id="r1")
    run_until(http, "flaky", "r1", "errored")
    response = http.post(url("flaky", "instances", "r1", "retry-failed-step"))
    assert response.status_code == 200
    body = response.json()
    assert body["accepted"] is True
    assert body["instance"]["id"] == "r1"
    assert body["retry"]["stepKey"] == "wobbly"
    assert {"attempts", "maxAttempts", "scheduledAt"} <= set(body["retry"])
    run_until(http, "flaky", "r1", "complete")
    details = http.get(url("flaky", "instances", "r1")).json()["details"]
    assert details["output"] == "second time lucky"


def test_runner_tick_reports_processed_work(http: TestClient) -> None:
    create(http, "plain", id="t1")
    assert tick(http, maxInstances=5, maxSteps=50) >= 1
    assert status_of(http, "plain", "t1") == "complete"
    assert tick(http) == 0


def test_health_under_the_mount_and_at_the_root(http: TestClient) -> None:
    for path in (f"{MOUNT}/health", "/health"):
        response = http.get(path)
        assert response.status_code == 200
        assert response.json() == {"ok": True, "redis": "up"}


def test_head_is_answered_on_get_routes(http: TestClient) -> None:
    assert http.head(f"{MOUNT}/health").status_code == 200
