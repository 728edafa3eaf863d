"""Deploy support over HTTP: meta.version, ?version= listings, and retry-failed-step replaying a
run that failed with NondeterminismError. The runner tick advances instances in-process."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from starlette.testclient import TestClient

from durable import workflow
from durable.api import create_app
from durable.settings import Settings
from tests.api.api_support import MOUNT, create, run_until, tick, url

code: dict[str, str] = {}


@workflow("shipping", version="7")
async def shipping(event: Any, step: Any) -> Any:
    await step.do("charge", lambda: "charged")
    await step.do(code.get("ship", "ship"), lambda: "shipped")
    received = await step.wait_for_event("go", type="go", timeout="1 h")
    return received.payload


@workflow("unversioned")
async def unversioned(event: Any, step: Any) -> Any:
    return None


@pytest.fixture
def app_http(api_settings: Settings) -> Iterator[TestClient]:
    code.clear()
    with ExitStack() as stack:
        app = create_app(api_settings, workflows=[shipping, unversioned])
        yield stack.enter_context(TestClient(app))


def test_meta_shows_the_version_or_null(app_http: TestClient) -> None:
    create(app_http, "shipping", id="s1")
    create(app_http, "unversioned", id="u1")
    assert app_http.get(url("shipping", "instances", "s1")).json()["meta"]["version"] == "7"
    assert app_http.get(url("unversioned", "instances", "u1")).json()["meta"]["version"] is None


def test_instances_are_listed_by_version(app_http: TestClient) -> None:
    create(app_http, "shipping", id="s1")
    listed = app_http.get(url("shipping", "instances"), params={"version": "7"}).json()
    assert [item["id"] for item in listed["instances"]] == ["s1"]
    other = app_http.get(url("shipping", "instances"), params={"version": "6"}).json()
    assert other["instances"] == []
    both = {"version": "7", "status": "queued"}
    assert len(app_http.get(url("shipping", "instances"), params=both).json()["instances"]) == 1


@pytest.mark.parametrize("bad", ["", "a b", "-x", "v" * 65])
def test_a_bad_version_filter_is_400(app_http: TestClient, bad: str) -> None:
    response = app_http.get(url("shipping", "instances"), params={"version": bad})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR"
    assert body["issues"][0]["path"] == "version"


def test_retry_failed_step_replays_a_run_that_failed_on_nondeterminism(
    app_http: TestClient,
) -> None:
    create(app_http, "shipping", id="s2")
    run_until(app_http, "shipping", "s2", "waiting")
    code["ship"] = "dispatch"
    app_http.post(url("shipping", "instances", "s2", "events"), json={"type": "go", "payload": 1})
    run_until(app_http, "shipping", "s2", "errored")
    code.clear()
    response = app_http.post(url("shipping", "instances", "s2", "retry-failed-step"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["instance"]["details"] == {"status": "queued", "runNumber": 0}
    assert body["retry"]["replay"] is True and "stepKey" not in body["retry"]
    tick(app_http)
    done = app_http.get(url("shipping", "instances", "s2")).json()
    assert done["details"] == {"status": "complete", "runNumber": 0, "output": 1}


def test_openapi_documents_the_version(app_http: TestClient) -> None:
    document = app_http.get(f"{MOUNT}/openapi.json").json()
    listing = document["paths"][f"{MOUNT}/{{workflow}}/instances"]["get"]
    assert "version" in [p["name"] for p in listing["parameters"]]
    schemas = document["components"]["schemas"]
    assert "version" in schemas["Meta"]["properties"]
    assert "replay" in schemas["RetryInfo"]["required"]
    assert "patch" in schemas["StepType"]["enum"]
