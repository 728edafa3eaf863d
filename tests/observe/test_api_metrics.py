"""GET /metrics on the API server: instances by status, due work, and requests by route."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.helpers import free_port
from tests.observe.conftest import MOUNT, AppFactory
from tests.observe.support import names, samples, value


def create(http: TestClient, workflow: str, **body: object) -> str:
    response = http.post(f"{MOUNT}/{workflow}/instances", json=body)
    assert response.status_code == 201, response.text
    instance_id: str = response.json()["id"]
    return instance_id


def scrape(http: TestClient, **headers: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = http.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return samples(response.text)


def run_all(http: TestClient) -> None:
    for _ in range(10):
        if http.post(f"{MOUNT}/_runner/tick", json={}).json()["processed"] == 0:
            return
    raise AssertionError("the runner tick never ran out of work")


def test_instances_are_counted_by_workflow_and_status(http: TestClient) -> None:
    create(http, "obs-plain", params={"n": 1})
    create(http, "obs-plain", params={"n": 2})
    create(http, "obs-wait")
    found = scrape(http)
    assert value(found, "durable_redis_up") == 1
    assert value(found, "durable_instances", workflow="obs-plain", status="queued") == 2
    assert value(found, "durable_instances", workflow="obs-wait", status="queued") == 1
    assert value(found, "durable_instances", workflow="obs-retry", status="queued") == 0
    assert value(found, "durable_due_jobs") == 3
    assert value(found, "durable_scheduled_jobs") == 0

    run_all(http)
    found = scrape(http)
    assert value(found, "durable_instances", workflow="obs-plain", status="complete") == 2
    assert value(found, "durable_instances", workflow="obs-plain", status="queued") == 0
    assert value(found, "durable_instances", workflow="obs-wait", status="waiting") == 1
    assert value(found, "durable_due_jobs") == 0
    assert value(found, "durable_scheduled_jobs") == 1  # the wait's deadline


def test_every_status_of_every_workflow_is_listed(http: TestClient) -> None:
    found = scrape(http)
    statuses = {"queued", "running", "waiting", "paused", "complete", "errored", "terminated"}
    for workflow in ("obs-plain", "obs-wait", "obs-retry"):
        for status in statuses:
            assert value(found, "durable_instances", workflow=workflow, status=status) == 0


def test_requests_are_counted_by_route_template_not_path(http: TestClient) -> None:
    first, second = create(http, "obs-plain"), create(http, "obs-plain")
    for instance_id in (first, second):
        assert http.get(f"{MOUNT}/obs-plain/instances/{instance_id}").status_code == 200
    assert http.get(f"{MOUNT}/obs-plain/instances/nobody").status_code == 404
    assert http.get("/no/such/path/1").status_code == 404
    assert http.get("/no/such/path/2").status_code == 404
    found = scrape(http)
    route = f"{MOUNT}/{{workflow}}/instances/{{id}}"
    requests = "durable_http_requests_total"
    assert value(found, requests, method="GET", route=route, status="200") == 2
    assert value(found, requests, method="GET", route=route, status="404") == 1
    instances = f"{MOUNT}/{{workflow}}/instances"
    assert value(found, requests, method="POST", route=instances, status="201") == 2
    assert value(found, requests, method="GET", route="unmatched", status="404") == 2
    routes = {dict(labels).get("route") for name, labels in found if name == requests}
    assert not any(r and ("nobody" in r or first in r) for r in routes)
    count = "durable_http_request_duration_seconds_count"
    assert value(found, count, method="GET", route=route, status="200") == 2
    bucket = "durable_http_request_duration_seconds_bucket"
    assert value(found, bucket, method="GET", route=route, status="200", le="+Inf") == 2


def test_the_scrape_itself_and_the_dashboard_have_their_routes(http: TestClient) -> None:
    scrape(http)
    assert http.get("/dashboard").status_code == 200
    found = scrape(http)
    requests = "durable_http_requests_total"
    assert value(found, requests, method="GET", route="/metrics", status="200") == 1
    assert value(found, requests, method="GET", route="/dashboard", status="200") == 1


def test_process_metrics_are_included(http: TestClient) -> None:
    assert "python_info" in names(scrape(http))


def test_metrics_needs_the_api_token_when_one_is_set(make_http: AppFactory) -> None:
    http = make_http(api_token="s3cret")
    denied = http.get("/metrics")
    assert denied.status_code == 401
    assert denied.json()["code"] == "UNAUTHORIZED"
    assert http.get("/metrics", headers={"authorization": "Bearer wrong"}).status_code == 401
    found = scrape(http, authorization="Bearer s3cret")
    assert value(found, "durable_redis_up") == 1


def test_metrics_sits_at_the_root_whatever_the_mount(make_http: AppFactory) -> None:
    http = make_http(mount_path="/elsewhere")
    assert value(scrape(http), "durable_redis_up") == 1
    assert http.get("/elsewhere/metrics").status_code == 404


def test_an_unreachable_redis_is_a_gauge_not_an_error(make_http: AppFactory) -> None:
    http = make_http(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    found = scrape(http)
    assert value(found, "durable_redis_up") == 0
    assert "durable_instances" not in names(found)
    # a request is counted once it is answered: this scrape is not in its own page
    labels = {"method": "GET", "route": "/metrics", "status": "200"}
    assert value(found, "durable_http_requests_total", **labels) is None
