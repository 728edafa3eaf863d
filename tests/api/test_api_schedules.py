"""Schedules and bulk control over HTTP (durable/api/control.py), on a real Redis; ticks and
triggers run through the in-process runner tick."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from tests.api.api_support import create, status_of, tick, url


def schedule(http: TestClient, wf: str, status: int, **body: Any) -> dict[str, Any]:
    response = http.post(url(wf, "schedules"), json=body)
    assert response.status_code == status, response.text
    answer: dict[str, Any] = response.json()
    return answer


def test_create_read_list_and_update_a_schedule(http: TestClient) -> None:
    made = schedule(http, "plain", 201, id="nightly", cron="0 3 * * *", params={"n": 1},
                    timezone="Europe/Paris")  # fmt: skip
    assert made["id"] == "nightly" and made["workflow"] == "plain"
    assert made["cron"] == "0 3 * * *" and "every" not in made and "lastRunAt" not in made
    assert made["timezone"] == "Europe/Paris" and made["params"] == {"n": 1}
    assert (made["paused"], made["overlap"], made["catchup"]) == (False, "skip", "latest")
    assert made["nextRunAt"].endswith(":00:00.000Z") and made["createdAt"]
    same = schedule(http, "plain", 200, id="nightly", cron="0 3 * * *", params={"n": 1},
                    timezone="Europe/Paris")  # fmt: skip
    assert same == made
    updated = schedule(http, "plain", 200, id="nightly", every="2 h", paused=True)
    assert updated["every"] == "2 h" and "cron" not in updated and updated["params"] == {}
    assert updated["createdAt"] == made["createdAt"] and not updated["paused"]  # an update
    got = http.get(url("plain", "schedules", "nightly"))
    assert got.status_code == 200 and got.json()["every"] == "2 h"
    listed = http.get(url("plain", "schedules")).json()["schedules"]
    assert [s["id"] for s in listed] == ["nightly"]
    assert http.get(url("approval", "schedules")).json() == {"schedules": []}
    names = [w["name"] for w in http.get(url()).json()["workflows"]]
    assert "durable.schedule" not in names


def test_pause_resume_trigger_and_delete(http: TestClient) -> None:
    schedule(http, "plain", 201, id="s", cron="0 0 1 1 *", params="hi", paused=True)
    tick(http)
    assert http.get(url("plain", "schedules", "s")).json()["paused"] is True
    resumed = http.post(url("plain", "schedules", "s", "resume"))
    assert resumed.status_code == 200 and resumed.json()["paused"] is False
    triggered = http.post(url("plain", "schedules", "s", "trigger"), json={})
    assert triggered.json() == {"ok": True}
    for _ in range(5):
        tick(http)
    (started,) = http.get(url("plain", "instances")).json()["instances"]
    assert started["id"].startswith("s:") and status_of(http, "plain", started["id"]) == "complete"
    entry = http.get(url("plain", "schedules", "s")).json()
    assert entry["lastInstanceId"] == started["id"] and entry["lastRunAt"]
    paused = http.post(url("plain", "schedules", "s", "pause"))
    assert paused.json()["paused"] is True
    deleted = http.delete(url("plain", "schedules", "s"))
    assert deleted.status_code == 200 and deleted.json() == {"ok": True}
    gone = http.get(url("plain", "schedules", "s"))
    assert gone.status_code == 404 and gone.json()["code"] == "SCHEDULE_NOT_FOUND"
    assert http.delete(url("plain", "schedules", "s")).status_code == 404
    assert status_of(http, "plain", started["id"]) == "complete"  # its instances carry on


def test_bad_schedules_are_400_naming_the_field(http: TestClient) -> None:
    cases: list[tuple[dict[str, Any], list[str]]] = [
        ({"id": "b", "cron": "0 3 * *"}, ["cron"]),
        ({"id": "b", "cron": "61 * * * *"}, ["cron"]),
        ({"id": "b", "every": "fortnightly"}, ["every"]),
        ({"id": "b", "every": 10}, ["every"]),
        ({"id": "b"}, ["every"]),
        ({"id": "b", "cron": "* * * * *", "every": "1 min"}, ["cron"]),
        ({"id": "b", "every": "1 h", "timezone": "Europe/Atlantis"}, ["timezone"]),
        ({"id": "a:b", "every": "1 h"}, ["id"]),
        ({"id": "b", "every": "1 h", "overlap": "queue"}, ["overlap"]),
        ({"id": "b", "every": "1 h", "catchup": "most"}, ["catchup"]),
        ({"id": "b", "every": "1 h", "when": "now"}, ["when"]),
        ({"cron": "* * * * *"}, ["id"]),
    ]
    for body, paths in cases:
        answer = schedule(http, "plain", 400, **body)
        assert answer["code"] == "VALIDATION_ERROR", body
        assert [i["path"] for i in answer["issues"]] == paths, (body, answer)
    bad_params = schedule(http, "greet", 400, id="g", every="1 h", params={"nom": "x"})
    assert bad_params["code"] == "WORKFLOW_PARAMS_INVALID"
    missing = http.post(url("nope", "schedules"), json={"id": "x", "every": "1 h"})
    assert missing.status_code == 404 and missing.json()["code"] == "WORKFLOW_NOT_FOUND"
    assert http.get(url("plain", "schedules", "-bad")).status_code == 404
    assert http.get(url("plain", "schedules")).json() == {"schedules": []}


def test_bulk_control_over_http(http: TestClient) -> None:
    for n in range(30):
        create(http, "approval", id=f"a{n}")
    tick(http, maxInstances=50)
    key = {"Idempotency-Key": "bulk-1"}
    body = {"status": "waiting"}
    first = http.post(url("approval", "bulk", "terminate"), json=body, headers=key)
    assert first.status_code == 200 and first.json() == {"matched": 30, "changed": 30, "skipped": 0}
    again = http.post(url("approval", "bulk", "terminate"), json=body, headers=key)
    assert again.json() == first.json()
    fresh = http.post(url("approval", "bulk", "terminate"), json=body)
    assert fresh.json() == {"matched": 0, "changed": 0, "skipped": 0}
    ids = {"ids": ["a1", "a2", "missing"]}
    restarted = http.post(url("approval", "bulk", "restart"), json=ids)
    assert restarted.json() == {"matched": 2, "changed": 2, "skipped": 0}
    assert status_of(http, "approval", "a1") == "queued"
    retried = http.post(url("approval", "bulk", "retry-step"), json={**ids, "delayMs": 5})
    assert retried.json() == {"matched": 2, "changed": 0, "skipped": 2}
    none = http.post(url("approval", "bulk", "terminate"), json={})
    assert none.status_code == 400 and none.json()["code"] == "VALIDATION_ERROR"
    bad = http.post(url("approval", "bulk", "terminate"), json={"ids": ["-x"]})
    assert bad.status_code == 400 and bad.json()["code"] == "INVALID_INSTANCE_ID"
    delay = http.post(url("approval", "bulk", "terminate"), json={"status": "queued", "delayMs": 1})
    assert delay.status_code == 400
    assert http.post(url("approval", "bulk", "explode"), json=body).status_code == 404
