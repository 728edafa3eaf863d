"""The instance list over HTTP, as the original client reads it: `cursor` carries the next page,
fields without a value are absent (never null), and `status=waitingForPause` is a filter."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.api.api_support import create, url


def get(http: TestClient, **params: str) -> dict[str, Any]:
    response = http.get(url("plain", "instances"), params=params)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


def test_pages_follow_the_cursor_field_and_the_last_has_no_cursor(http: TestClient) -> None:
    for n in range(3):
        create(http, "plain", id=f"p{n}")
    first = get(http, pageSize="2")
    assert first["cursor"] == first["nextCursor"] and first["hasNextPage"] is True
    last = get(http, pageSize="2", cursor=first["cursor"])
    assert [item["id"] for item in last["instances"]] == ["p0"]
    assert last == {"instances": last["instances"], "hasNextPage": False}


def test_no_null_cursor_on_an_empty_list(http: TestClient) -> None:
    response = http.get(url("plain", "instances"))
    assert response.json() == {"instances": [], "hasNextPage": False}
    assert "null" not in response.text


def test_the_string_null_is_not_a_cursor(http: TestClient) -> None:
    response = http.get(url("plain", "instances"), params={"cursor": "null"})
    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_CURSOR"


def test_waiting_for_pause_is_a_list_filter(http: TestClient) -> None:
    create(http, "plain", id="queued-one")
    page = get(http, status="waitingForPause")
    assert page == {"instances": [], "hasNextPage": False}


@pytest.mark.parametrize("status", ["unknown", "waitingforpause", "WAITING", "pausing"])
def test_other_status_values_are_400(http: TestClient, status: str) -> None:
    response = http.get(url("plain", "instances"), params={"status": status})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR"
    assert body["issues"][0]["path"] == "status"
    assert "waitingForPause" in body["message"]


def test_openapi_documents_the_list_shape(http: TestClient) -> None:
    document = http.get(url("openapi.json")).json()
    operation = document["paths"][url("{workflow}", "instances")]["get"]
    status = next(p for p in operation["parameters"] if p["name"] == "status")
    assert "waitingForPause" in status["schema"]["enum"]
    page = document["components"]["schemas"]["InstancePage"]
    assert set(page["required"]) == {"instances", "hasNextPage"}
    for name in ("cursor", "nextCursor"):
        assert page["properties"][name]["type"] == "string"  # a string when present, never null
