"""Child workflows over HTTP: an invoke step's type and child in history, `meta.parent` on the
child, both as the OpenAPI document declares them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from durable import workflow
from durable.api import create_app
from durable.settings import Settings
from tests.api.api_support import MOUNT, create, run_until, url
from tests.api.test_api_conformance import INSTANCE, Conformance

pytestmark = pytest.mark.timeout(60)


@workflow("api-kid")
async def kid(event: Any, step: Any) -> Any:
    return {"got": event.payload}


@workflow("api-mom")
async def mom(event: Any, step: Any) -> Any:
    started = await step.start("later", workflow="api-kid", params={"n": 2}, id="kid-started")
    output = await step.invoke("now", workflow=kid, params={"n": 1})
    return {"started": started, "output": output}


@pytest.fixture
def http(api_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(api_settings, workflows=[kid, mom])) as client:
        yield client


def test_history_shows_invoke_steps_and_children_name_their_parent(http: TestClient) -> None:
    conformance = Conformance(http.get(f"{MOUNT}/openapi.json").json())
    create(http, "api-mom", id="m1")
    assert run_until(http, "api-mom", "m1", "complete") == "complete"
    history = http.get(url("api-mom", "instances", "m1", "history"), params={"order": "asc"})
    conformance.check(f"{INSTANCE}/history", "get", history)
    later, now = history.json()["steps"]
    assert (later["type"], later["child"], later["result"]) == (
        "invoke", {"workflow": "api-kid", "id": "kid-started"}, "kid-started",
    )  # fmt: skip
    assert now["type"] == "invoke" and now["child"]["workflow"] == "api-kid"
    assert now["result"] == {"got": {"n": 1}}
    parent = http.get(url("api-mom", "instances", "m1"))
    conformance.check(INSTANCE, "get", parent)
    assert "parent" not in parent.json()["meta"]
    assert parent.json()["details"]["output"]["started"] == "kid-started"
    for child_id in ("kid-started", now["child"]["id"]):
        child = http.get(url("api-kid", "instances", child_id))
        conformance.check(INSTANCE, "get", child)
        assert child.json()["meta"]["parent"] == {"workflow": "api-mom", "id": "m1"}
