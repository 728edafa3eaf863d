"""The page's buttons and event form: plain form posts (redirect back, or the page again with
the problem) and the script's JSON answers; each acts once per rendered form."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.dashboard.support import (
    API,
    JSON,
    DashboardClient,
    create,
    post_form,
    run_until,
    status,
    text_of,
)

PAGE = "/dashboard/order-approval/o1"


@pytest.fixture
def waiting(http: DashboardClient) -> DashboardClient:
    create(http, "order-approval", "o1")
    run_until(http, "order-approval", "o1", "waiting")
    return http


def history(http: DashboardClient, instance_id: str = "o1") -> dict[str, Any]:
    reply = http.get(f"{API}/order-approval/instances/{instance_id}/history")
    assert reply.status_code == 200, reply.text
    body: dict[str, Any] = reply.json()
    return body


def test_control_buttons_redirect_back_with_a_notice(waiting: DashboardClient) -> None:
    steps = [
        ("pause", "paused", "Pause requested."),
        ("resume", "waiting", "Resumed."),
        ("terminate", "terminated", "Terminated."),
        ("restart", "queued", "Restarted: a new run begins."),
    ]
    for action, expected, notice in steps:
        reply = post_form(waiting, f"{PAGE}/{action}", {"key": f"k-{action}"})
        assert reply.status_code == 303, reply.text
        assert reply.headers["location"] == f"{PAGE}?done={action}"
        if expected == "waiting":
            run_until(waiting, "order-approval", "o1", "waiting")
        assert status(waiting, "order-approval", "o1") == expected
        page = waiting.get(reply.headers["location"])
        assert f'role="status" aria-live="polite">{notice}</p>' in page.text


def test_the_script_gets_json_answers(waiting: DashboardClient) -> None:
    ok = post_form(waiting, f"{PAGE}/terminate", {}, headers=JSON)
    assert (ok.status_code, ok.json()) == (200, {"ok": True, "message": "Terminated."})
    again = post_form(waiting, f"{PAGE}/terminate", {}, headers=JSON)
    assert again.status_code == 409
    assert again.json()["code"] == "INSTANCE_TERMINAL" and again.json()["ok"] is False


def test_a_refused_action_shows_the_page_with_the_problem(waiting: DashboardClient) -> None:
    reply = post_form(waiting, f"{PAGE}/retry-failed-step", {})
    assert reply.status_code == 409
    assert re.search(r'<p class="problem" id="problem" role="alert">[^<]*not errored', reply.text)
    assert 'id="live-summary"' in reply.text  # the instance page, not an error page


def test_send_event_form_delivers_the_event(waiting: DashboardClient) -> None:
    form = {"type": "approval", "payload": '{"approved": true, "by": "ada"}', "key": "k1"}
    reply = post_form(waiting, f"{PAGE}/events", form)
    assert (reply.status_code, reply.headers["location"]) == (303, f"{PAGE}?done=events")
    run_until(waiting, "order-approval", "o1", "complete")
    (event,) = history(waiting)["events"]
    assert event["payload"] == {"approved": True, "by": "ada"} and event["id"] == "k1"


def test_an_empty_payload_sends_no_payload(waiting: DashboardClient) -> None:
    reply = post_form(waiting, f"{PAGE}/events", {"type": "nudge", "payload": "  "}, headers=JSON)
    assert reply.json() == {"ok": True, "message": "Event sent."}
    (event,) = history(waiting)["events"]
    assert event["type"] == "nudge" and event["payload"] is None


def test_a_resubmitted_form_acts_once(waiting: DashboardClient) -> None:
    form = {"type": "nudge", "payload": "1", "key": "same-key"}
    for _ in range(2):
        assert post_form(waiting, f"{PAGE}/events", form, headers=JSON).status_code == 200
    assert len(history(waiting)["events"]) == 1
    for _ in range(2):
        reply = post_form(waiting, f"{PAGE}/restart", {"key": "restart-once"}, headers=JSON)
        assert reply.status_code == 200
    assert waiting.get(f"{API}/order-approval/instances/o1").json()["details"]["runNumber"] == 1


def test_bad_json_keeps_what_was_typed(waiting: DashboardClient) -> None:
    form = {"type": "approval", "payload": '{"approved": tru <b>'}
    reply = post_form(waiting, f"{PAGE}/events", form)
    assert reply.status_code == 400
    assert "the payload is not JSON: Expecting value (line 1, column 14)" in text_of(reply.text)
    assert ">{&#34;approved&#34;: tru &lt;b&gt;</textarea>" in reply.text
    assert re.search(r'name="type" [^>]*value="approval"', reply.text)
    assert history(waiting)["events"] == []


def test_a_bad_event_type_is_a_clear_400(waiting: DashboardClient) -> None:
    reply = post_form(waiting, f"{PAGE}/events", {"type": "has space"}, headers=JSON)
    assert reply.status_code == 400 and "invalid event type" in reply.json()["message"]


def test_retry_failed_step_from_the_page(http: DashboardClient) -> None:
    create(http, "nightly-report", "r1")
    run_until(http, "nightly-report", "r1", "errored")
    reply = post_form(http, "/dashboard/nightly-report/r1/retry-failed-step", {}, headers=JSON)
    assert reply.json() == {"ok": True, "message": "Retrying the failed step."}
    assert status(http, "nightly-report", "r1") != "errored"
    run_until(http, "nightly-report", "r1", "errored")  # it fails for good again
    page = text_of(http.get("/dashboard/nightly-report/r1").text)
    assert "2 failed attempts" in page


def test_actions_on_missing_things_are_404(http: DashboardClient) -> None:
    for path in (
        "/dashboard/order-approval/nope/pause",
        "/dashboard/no-such-workflow/o1/pause",
        "/dashboard/order-approval/nope/events",
    ):
        reply = post_form(http, path, {"type": "x"})
        assert reply.status_code == 404 and "<h1>Not found</h1>" in reply.text, path
    create(http, "order-approval", "o1")
    assert post_form(http, f"{PAGE}/explode", {}).status_code == 404


def test_forms_must_be_url_encoded_and_small(waiting: DashboardClient) -> None:
    as_json = waiting.post(
        f"{PAGE}/pause", json={"key": "x"}, headers={"Origin": "http://testserver", **JSON}
    )
    assert as_json.status_code == 400 and "x-www-form-urlencoded" in as_json.json()["message"]
    many = {f"f{n}": "1" for n in range(20)}
    assert post_form(waiting, f"{PAGE}/pause", many, headers=JSON).status_code == 400
    huge = {"key": "x" * 20_000}
    assert post_form(waiting, f"{PAGE}/pause", huge, headers=JSON).status_code == 413
    assert status(waiting, "order-approval", "o1") == "waiting"
