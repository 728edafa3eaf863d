"""Each dashboard page through the API app (TestClient) over a real Redis: content, filters,
pages, runs, the live part, 404s, escaping and the error pages."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from durable.api import create_app
from durable.settings import Settings
from tests.dashboard.flows import workflows
from tests.dashboard.support import (
    API,
    JSON,
    DashboardClient,
    create,
    run_until,
    text_of,
)
from tests.helpers import free_port

HOSTILE = "<script>alert('x')</script>"


def approve(http: DashboardClient, instance_id: str, payload: object) -> None:
    url = f"{API}/order-approval/instances/{instance_id}/events"
    reply = http.post(url, json={"type": "approval", "payload": payload})
    assert reply.status_code == 200, reply.text


def test_workflows_page_lists_each_workflow_with_counts_by_status(http: DashboardClient) -> None:
    create(http, "order-approval", "o1")
    create(http, "order-approval", "o2")
    create(http, "nightly-report", "r1")
    run_until(http, "order-approval", "o1", "waiting")
    run_until(http, "order-approval", "o2", "waiting")
    run_until(http, "nightly-report", "r1", "errored")

    page = http.get("/dashboard")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    waiting = 'class="count status-waiting" href="/dashboard/order-approval?status=waiting">2</a>'
    errored = 'class="count status-errored" href="/dashboard/nightly-report?status=errored">1</a>'
    assert waiting in page.text and errored in page.text
    assert re.search(r'data-label="Total">\s*2\s*<', page.text)
    assert http.get("/dashboard/").text == page.text


def test_instances_newest_first_with_badges_and_a_status_filter(http: DashboardClient) -> None:
    for iid in ("a1", "a2", "a3"):
        create(http, "order-approval", iid)
    run_until(http, "order-approval", "a2", "waiting")
    assert http.post(f"{API}/order-approval/instances/a2/pause").status_code == 200

    page = http.get("/dashboard/order-approval")
    assert re.findall(r'data-instance="([^"]+)"', page.text) == ["a3", "a2", "a1"]
    assert '<span class="badge status-paused">paused</span>' in page.text
    filtered = http.get("/dashboard/order-approval", params={"status": "paused"})
    assert re.findall(r'data-instance="([^"]+)"', filtered.text) == ["a2"]
    active = 'class="status-paused active" aria-current="true">paused <span class="n">1</span>'
    assert active in filtered.text
    empty = http.get("/dashboard/order-approval", params={"status": "errored"})
    assert "No errored instances right now." in text_of(empty.text)


def test_instances_page_through_older_ones(http: DashboardClient) -> None:
    for n in range(27):
        create(http, "nightly-report", f"r{n:02d}")
    first = http.get("/dashboard/nightly-report")
    assert len(re.findall(r"data-instance=", first.text)) == 25
    older = re.search(r'href="([^"]+)" rel="next">Older', first.text)
    assert older is not None and "Newest" not in first.text
    second = http.get(older.group(1).replace("&amp;", "&"))
    assert re.findall(r'data-instance="([^"]+)"', second.text) == ["r01", "r00"]
    assert "← Newest" in second.text and 'rel="next"' not in second.text


def test_bad_filters_are_a_400_page(http: DashboardClient) -> None:
    for params in ({"status": "sleeping"}, {"cursor": "not-a-cursor"}):
        page = http.get("/dashboard/order-approval", params=params)
        assert page.status_code == 400
        assert "<h1>Bad request</h1>" in page.text and "Traceback" not in page.text


def test_instance_page_shows_status_params_steps_events_and_logs(http: DashboardClient) -> None:
    create(http, "order-approval", "o1", orderId="o1", amount=12)
    run_until(http, "order-approval", "o1", "waiting")
    waiting = text_of(http.get("/dashboard/order-approval/o1").text)
    assert "waiting run 0" in waiting
    assert '"amount": 12' in waiting
    assert "Waits for event approval , times out at" in waiting
    assert "order received" in waiting and "No events in this run." in waiting

    approve(http, "o1", {"approved": True})
    run_until(http, "order-approval", "o1", "complete")
    page = http.get("/dashboard/order-approval/o1").text
    done = text_of(page)
    assert "complete run 0" in done
    assert re.search(r'<pre class="json" id="output">\{\s+&#34;approved&#34;: true', page)
    assert "Received event approval" in done and "consumed by approval" in done
    assert "Patch marker: this run took the new code path of change charge-in-cents" in done
    assert "attempt 2 of 3" in done and "1 failed attempt" in done
    assert "ConnectionError: payment gateway did not answer" in done
    assert "Slept until" in done and "order charged" in done
    assert 'data-terminal="true"' in page  # the page stops polling


def test_a_step_waiting_to_retry_says_when(http: DashboardClient) -> None:
    create(http, "order-approval", "o1")
    run_until(http, "order-approval", "o1", "waiting")
    approve(http, "o1", {"approved": True})
    # no worker runs here: one tick fails the first charge attempt and leaves the retry due
    run_until(http, "order-approval", "o1", "waiting")
    page = text_of(http.get("/dashboard/order-approval/o1").text)
    assert "charge waiting attempt 1 of 3" in page
    assert "Next retry at" in page and "1 failed attempt" in page


def test_actions_shown_follow_the_status(http: DashboardClient) -> None:
    create(http, "nightly-report", "r1")
    run_until(http, "nightly-report", "r1", "errored")
    page = http.get("/dashboard/nightly-report/r1").text
    shown = re.findall(r'data-action="([^"]+)" data-when="[^"]*"(?:[^>]*?)(?<! hidden)>', page)
    hidden = re.findall(r'data-action="([^"]+)"[^>]* hidden>', page)
    assert set(shown) == {"retry-failed-step", "restart"}
    assert set(hidden) == {"pause", "resume", "terminate", "events"}
    assert "NonRetryableError: sales database refused the connection" in text_of(page)


def test_earlier_runs_are_selectable(http: DashboardClient) -> None:
    create(http, "order-approval", "o1")
    run_until(http, "order-approval", "o1", "waiting")
    restart = http.post(f"{API}/order-approval/instances/o1/restart")
    assert restart.status_code == 200
    current = http.get("/dashboard/order-approval/o1").text
    assert 'href="/dashboard/order-approval/o1?run=0">0</a>' in current
    assert "1 (current)" in text_of(current)

    earlier = http.get("/dashboard/order-approval/o1", params={"run": "0"}).text
    assert "You are looking at run 0, an earlier run." in text_of(earlier)
    assert "data-src=" not in earlier  # an earlier run does not change: nothing to poll
    for bad in ("7", "x", "-1"):
        page = http.get("/dashboard/order-approval/o1", params={"run": bad})
        assert page.status_code == 400 and "Traceback" not in page.text


def test_live_part_is_a_fragment_that_says_when_to_stop(http: DashboardClient) -> None:
    create(http, "order-approval", "o1")
    run_until(http, "order-approval", "o1", "waiting")
    live = http.get("/dashboard/order-approval/o1/live")
    assert live.status_code == 200
    assert live.text.lstrip().startswith('<section class="card summary" id="live-summary"')
    assert 'data-state="waiting" data-terminal="false"' in live.text
    assert 'data-src="/dashboard/order-approval/o1/live"' in live.text
    assert 'id="live-timeline" data-live' in live.text and "<html" not in live.text

    approve(http, "o1", {"approved": False})
    run_until(http, "order-approval", "o1", "complete")
    final = http.get("/dashboard/order-approval/o1/live").text
    assert 'data-state="complete" data-terminal="true"' in final


@pytest.mark.parametrize(
    "path",
    [
        "/dashboard/no-such-workflow",
        "/dashboard/order-approval/no-such-instance",
        "/dashboard/order-approval/no-such-instance/live",
        "/dashboard/order-approval/bad%20id",
        "/dashboard/order-approval/x/y/z",
        "/dashboard/-/static/missing.css",
    ],
)
def test_unknown_pages_are_a_404_page(http: DashboardClient, path: str) -> None:
    page = http.get(path)
    assert page.status_code == 404
    assert "<h1>Not found</h1>" in page.text and "Traceback" not in page.text


def test_a_404_for_the_script_is_json(http: DashboardClient) -> None:
    reply = http.get("/dashboard/order-approval/nope", headers=JSON)
    assert reply.status_code == 404
    assert reply.json()["code"] == "INSTANCE_NOT_FOUND" and reply.json()["ok"] is False


def test_wrong_method_is_a_405_page(http: DashboardClient) -> None:
    page = http.put("/dashboard")
    assert page.status_code == 405 and "<h1>Method not allowed</h1>" in page.text


def test_user_text_is_escaped_everywhere(http: DashboardClient) -> None:
    create(http, "order-approval", "o1", orderId=HOSTILE)
    create(http, "nightly-report", "r1", reason=HOSTILE)
    run_until(http, "order-approval", "o1", "waiting")
    run_until(http, "nightly-report", "r1", "errored")
    approve(http, "o1", {"approved": False, "note": HOSTILE, "<b>key</b>": 1})
    run_until(http, "order-approval", "o1", "complete")

    pages = [
        http.get("/dashboard/order-approval/o1").text,  # params, event payload, log data
        http.get("/dashboard/nightly-report/r1").text,  # error, failed attempt
        http.get("/dashboard/nightly-report").text,  # error under the badge
        http.get("/dashboard/order-approval/o1/live").text,
    ]
    for page in pages:
        assert "<script>alert" not in page and "<b>key" not in page
        assert "&lt;script&gt;alert(" in page
    assert "&lt;b&gt;key&lt;/b&gt;" in pages[0]


def test_pages_carry_security_headers_and_are_not_cached(http: DashboardClient) -> None:
    page = http.get("/dashboard")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["cache-control"] == "no-store"
    css = http.get("/dashboard/-/static/dashboard.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert "cache-control" not in css.headers
    assert "<script" not in page.text.replace('<script src="/dashboard/-/static/', "")


def test_the_api_beside_the_dashboard_is_unchanged(http: DashboardClient) -> None:
    assert http.get(API).json() == {
        "workflows": [{"name": "order-approval"}, {"name": "nightly-report"}]
    }
    assert http.get("/dashboards").status_code == 404
    assert http.get("/dashboards").json()["code"] == "ROUTE_NOT_FOUND"


def test_a_server_under_a_root_path_links_below_it(settings: Settings) -> None:
    app = create_app(settings, workflows=workflows)
    with DashboardClient(app, root_path="/tools") as http:
        page = http.get("/tools/dashboard")
    assert page.status_code == 200
    assert 'href="/tools/dashboard/order-approval"' in page.text
    assert 'href="/tools/dashboard/-/static/dashboard.css?v=' in page.text


def test_store_down_is_a_503_page_without_traceback(settings: Settings) -> None:
    down = replace(settings, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    with DashboardClient(create_app(down, workflows=workflows)) as http:
        page = http.get("/dashboard")
    assert page.status_code == 503
    assert "<h1>Store unavailable</h1>" in page.text and "Traceback" not in page.text


def test_a_bug_is_a_500_page_that_tells_nothing_inside(settings: Settings) -> None:
    def broken_policy(request: object) -> bool:
        raise RuntimeError("secret internals")

    app = create_app(settings, workflows=workflows, authorize=broken_policy)
    with DashboardClient(app, raise_server_exceptions=False) as http:
        page = http.get("/dashboard")
    assert page.status_code == 500
    assert "<h1>Something went wrong</h1>" in page.text
    assert "secret" not in page.text and "Traceback" not in page.text
