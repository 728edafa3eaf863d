"""History through the API: failed attempts on steps, log filters, cursors omitted on last pages."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from durable import StepContext, workflow
from durable.api import create_app
from durable.models import History, Instance
from durable.settings import Settings
from tests.api.api_support import MOUNT, create, status_of, tick, url
from tests.helpers import wait_until


@workflow("chatty")
async def chatty(event: Any, step: Any) -> int:
    step.log.debug("d1")
    step.log.info("i1")
    step.log.warn("w1", category="billing")
    step.log.error("e1", category="billing")
    step.log.info("i2", category="billing")
    step.log.warn("w2")
    value: int = await step.do("work", lambda: 1)
    step.log.info("i3")
    return value


def _third_time_lucky(ctx: StepContext) -> str:
    if ctx.attempt < 3:
        raise RuntimeError(f"failure {ctx.attempt}")
    return "ok"


@workflow("wobbly")
async def wobbly(event: Any, step: Any) -> str:
    result: str = await step.do("charge", _third_time_lucky, retries={"limit": 2, "delay": 1})
    await step.do("receipt", lambda: "sent")
    return result


@workflow("patient")
async def patient(event: Any, step: Any) -> str:
    result: str = await step.do("charge", _third_time_lucky, retries={"limit": 2, "delay": "1 h"})
    return result


@workflow("once")
async def once(event: Any, step: Any) -> str:
    result: str = await step.do("charge", _third_time_lucky)
    return result


@pytest.fixture
def http(api_settings: Settings) -> Iterator[TestClient]:
    app = create_app(api_settings, workflows=[chatty, wobbly, patient, once])
    with TestClient(app) as client:
        yield client


def finish(http: TestClient, wf: str, iid: str) -> None:
    """Tick until the instance completes (retry backoffs make it wait in between)."""
    wait_until(lambda: tick(http) >= 0 and status_of(http, wf, iid) == "complete")


def history(http: TestClient, wf: str, iid: str, **params: str) -> dict[str, Any]:
    response = http.get(url(wf, "instances", iid, "history"), params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def messages(body: dict[str, Any]) -> list[str]:
    return [line["message"] for line in body["logs"]]


# -- failed attempts -----------------------------------------------------------------------------


def test_steps_show_their_failed_attempts_in_history_and_meta(http: TestClient) -> None:
    create(http, "wobbly", id="w1")
    finish(http, "wobbly", "w1")
    body = history(http, "wobbly", "w1", order="asc")
    History.model_validate(body)
    charge, receipt = body["steps"]
    assert (charge["attempts"], charge["failedAttemptsTotal"]) == (3, 2)
    assert [(f["attempt"], f["error"]) for f in charge["failedAttempts"]] == [
        (1, {"name": "RuntimeError", "message": "failure 1"}),
        (2, {"name": "RuntimeError", "message": "failure 2"}),
    ]
    assert all(set(f) == {"attempt", "error", "at"} for f in charge["failedAttempts"])
    assert (receipt["failedAttempts"], receipt["failedAttemptsTotal"]) == ([], 0)
    instance = http.get(url("wobbly", "instances", "w1")).json()
    Instance.model_validate(instance)
    assert instance["meta"]["currentStep"]["stepKey"] == "receipt"
    assert instance["meta"]["currentStep"]["failedAttempts"] == []


def test_a_waiting_retry_shows_in_current_step(http: TestClient) -> None:
    create(http, "patient", id="p1")
    wait_until(lambda: tick(http) >= 0 and status_of(http, "patient", "p1") == "waiting")
    current = http.get(url("patient", "instances", "p1")).json()["meta"]["currentStep"]
    assert current["status"] == "waiting" and current["failedAttemptsTotal"] == 1
    assert current["failedAttempts"][0]["error"]["message"] == "failure 1"


def test_retry_lines_are_filtered_by_category_and_level(http: TestClient) -> None:
    create(http, "wobbly", id="w3")
    finish(http, "wobbly", "w3")
    body = history(
        http, "wobbly", "w3", includeLogs="true", logCategory="retry", logLevel="warn", order="asc"
    )
    assert [(line["stepKey"], line["attempt"]) for line in body["logs"]] == [
        ("charge", 1),
        ("charge", 2),
    ]
    assert body["logs"][1]["message"].startswith("RuntimeError: failure 2; retrying (attempt 3/3)")


def test_a_manually_retried_step_keeps_its_earlier_failures(http: TestClient) -> None:
    create(http, "once", id="o1")
    wait_until(lambda: tick(http) >= 0 and status_of(http, "once", "o1") == "errored")
    for _ in range(2):  # attempts 2 and 3, each re-opened by hand
        assert http.post(url("once", "instances", "o1", "retry-failed-step")).status_code == 200
        wait_until(lambda: tick(http) >= 0 and status_of(http, "once", "o1") != "waiting")
    assert status_of(http, "once", "o1") == "complete"
    charge = history(http, "once", "o1")["steps"][0]
    assert charge["attempts"] == 3 and charge["failedAttemptsTotal"] == 2
    assert [f["error"]["message"] for f in charge["failedAttempts"]] == ["failure 1", "failure 2"]


# -- log filters ---------------------------------------------------------------------------------


@pytest.fixture
def chatted(http: TestClient) -> TestClient:
    create(http, "chatty", id="c1")
    finish(http, "chatty", "c1")
    return http


def test_log_level_keeps_that_level_only(chatted: TestClient) -> None:
    body = history(chatted, "chatty", "c1", includeLogs="true", logLevel="info", order="asc")
    assert messages(body) == ["i1", "i2", "i3"]
    assert messages(history(chatted, "chatty", "c1", includeLogs="true", logLevel="debug")) == [
        "d1"
    ]


def test_log_category_is_an_exact_match(chatted: TestClient) -> None:
    body = history(chatted, "chatty", "c1", includeLogs="true", logCategory="billing", order="asc")
    assert messages(body) == ["w1", "e1", "i2"]
    assert messages(history(chatted, "chatty", "c1", includeLogs="true", logCategory="bill")) == []


def test_log_filters_combine(chatted: TestClient) -> None:
    body = history(
        chatted, "chatty", "c1", includeLogs="true", logCategory="billing", logLevel="info"
    )
    assert messages(body) == ["i2"]


@pytest.mark.parametrize(
    ("order", "pages"), [("asc", [["i1", "i2"], ["i3"]]), ("desc", [["i3", "i2"], ["i1"]])]
)
def test_log_filters_apply_before_pagination(
    chatted: TestClient, order: str, pages: list[list[str]]
) -> None:
    query = {"includeLogs": "true", "logLevel": "info", "pageSize": "2", "order": order}
    first = history(chatted, "chatty", "c1", **query)
    assert messages(first) == pages[0] and first["logsHasNextPage"] is True
    rest = history(chatted, "chatty", "c1", **query, logsCursor=first["logsCursor"])
    assert messages(rest) == pages[1] and rest["logsHasNextPage"] is False
    assert "logsCursor" not in rest


@pytest.mark.parametrize(
    ("params", "path"),
    [
        ({"includeLogs": "true", "logLevel": "verbose"}, "logLevel"),
        ({"includeLogs": "true", "logLevel": "WARN"}, "logLevel"),
        ({"logLevel": "loud"}, "logLevel"),
    ],
)
def test_bad_log_filters_are_validation_errors(
    chatted: TestClient, params: dict[str, str], path: str
) -> None:
    response = chatted.get(url("chatty", "instances", "c1", "history"), params=params)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR"
    assert [issue["path"] for issue in body["issues"]] == [path]


def test_log_filters_without_include_logs_return_no_logs(chatted: TestClient) -> None:
    body = history(chatted, "chatty", "c1", logLevel="info", logCategory="billing")
    assert "logs" not in body and body["steps"]


# -- cursors -------------------------------------------------------------------------------------


def test_cursors_are_omitted_when_there_is_no_next_page(chatted: TestClient) -> None:
    first = history(chatted, "chatty", "c1", pageSize="1", includeLogs="true", order="asc")
    assert first["stepsHasNextPage"] is False and "stepsCursor" not in first
    assert first["eventsHasNextPage"] is False and "eventsCursor" not in first
    assert first["logsHasNextPage"] is True and isinstance(first["logsCursor"], str)
    none_anywhere = [key for key, value in first.items() if value is None]
    assert none_anywhere == []


def test_a_middle_page_carries_its_cursors(http: TestClient) -> None:
    create(http, "wobbly", id="w4")
    finish(http, "wobbly", "w4")
    first = history(http, "wobbly", "w4", pageSize="1", order="asc")
    assert [s["stepKey"] for s in first["steps"]] == ["charge"]
    last = history(
        http, "wobbly", "w4", pageSize="1", order="asc", stepsCursor=first["stepsCursor"]
    )
    assert [s["stepKey"] for s in last["steps"]] == ["receipt"]
    assert "stepsCursor" not in last and last["stepsHasNextPage"] is False


def test_openapi_documents_the_filters_and_the_omitted_cursors(http: TestClient) -> None:
    document = http.get(f"{MOUNT}/openapi.json").json()
    operation = document["paths"][f"{MOUNT}/{{workflow}}/instances/{{id}}/history"]["get"]
    params = {p["name"]: p["schema"] for p in operation["parameters"]}
    assert params["logLevel"]["enum"] == ["debug", "info", "warn", "error"]
    assert params["logCategory"]["type"] == "string"
    schemas = document["components"]["schemas"]
    shape = schemas["History"]
    for name in ("stepsCursor", "eventsCursor", "logsCursor"):
        assert shape["properties"][name]["type"] == "string"  # never null
        assert name not in shape["required"]
    step = schemas["StepEntry"]
    assert {"failedAttempts", "failedAttemptsTotal"} <= set(step["required"])
    assert set(schemas["FailedAttempt"]["required"]) == {"attempt", "error", "at"}
