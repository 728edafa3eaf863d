"""A body that is not a JSON object answers VALIDATION_ERROR with an issue at the root path "",
on every route that takes a body."""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.testclient import TestClient

from durable.api.errors import error_response
from durable.errors import ValidationError
from tests.api.api_support import url

BODY_ROUTES = [
    ("plain", "instances"),
    ("plain", "instances", "batch"),
    ("plain", "instances", "x", "events"),
    ("plain", "instances", "x", "pause"),
    ("plain", "instances", "x", "resume"),
    ("plain", "instances", "x", "terminate"),
    ("plain", "instances", "x", "restart"),
    ("plain", "instances", "x", "retry-failed-step"),
    ("_runner", "tick"),
]
ROUTE_IDS = [route[-1] if route[-1] != "x" else route[-2] for route in BODY_ROUTES]
NOT_OBJECTS = {
    b"[]": "an array",
    b'[{"id": "a"}]': "an array",
    b'"text"': "a string",
    b"42": "a number",
    b"-1.5": "a number",
    b"null": "null",
    b"true": "a boolean",
}
MALFORMED = {
    b"{": "line 1 column 2",
    b'{"id": }': "line 1 column 8",
    b'{\n  "id": "a",\n}': "line 3 column 1",
    b"{'id': 1}": "line 1 column 2",
    b'{"id": NaN}': "NaN",
}


def post(http: TestClient, route: tuple[str, ...], raw: bytes) -> dict[str, Any]:
    response = http.post(url(*route), content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    body: dict[str, Any] = response.json()
    assert body["code"] == "VALIDATION_ERROR"
    assert isinstance(body["issues"], list) and body["issues"], body
    assert all(set(issue) == {"path", "message"} for issue in body["issues"])
    return body


@pytest.mark.parametrize("route", BODY_ROUTES, ids=ROUTE_IDS)
@pytest.mark.parametrize("raw", sorted(NOT_OBJECTS))
def test_a_body_of_the_wrong_json_type_has_a_root_issue(
    http: TestClient, route: tuple[str, ...], raw: bytes
) -> None:
    body = post(http, route, raw)
    issue = body["issues"][0]
    assert issue["path"] == ""
    assert issue["message"] == f"expected a JSON object, got {NOT_OBJECTS[raw]}"
    assert "JSON object" in body["message"]


@pytest.mark.parametrize("route", BODY_ROUTES, ids=ROUTE_IDS)
@pytest.mark.parametrize("raw", sorted(MALFORMED))
def test_malformed_json_has_a_root_issue_with_the_position(
    http: TestClient, route: tuple[str, ...], raw: bytes
) -> None:
    body = post(http, route, raw)
    issue = body["issues"][0]
    assert issue["path"] == ""
    assert MALFORMED[raw] in issue["message"]
    assert issue["message"] in body["message"]


def test_a_body_that_is_not_utf8_has_a_root_issue(http: TestClient) -> None:
    issue = post(http, ("plain", "instances"), b'{"id": "\xff"}')["issues"][0]
    assert issue == {"path": "", "message": "invalid UTF-8 at byte 8"}


def test_a_missing_required_body_has_a_root_issue(http: TestClient) -> None:
    for route in (("plain", "instances", "batch"), ("plain", "instances", "x", "events")):
        issue = post(http, route, b"")["issues"][0]
        assert issue == {"path": "", "message": "expected a JSON object"}


def test_a_bad_content_length_names_the_header(http: TestClient) -> None:
    headers = {b"content-type": b"application/json", b"content-length": b"2x"}
    response = http.post(url("plain", "instances"), content=b"{}", headers=headers)
    assert response.status_code == 400
    assert response.json()["issues"][0]["path"] == "Content-Length"


def test_a_bad_cursor_names_the_parameter(http: TestClient) -> None:
    response = http.get(url("plain", "instances"), params={"cursor": "garbage!"})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "INVALID_CURSOR"
    assert [issue["path"] for issue in body["issues"]] == ["cursor"]


def test_an_object_body_still_reports_field_paths(http: TestClient) -> None:
    body = post(http, ("plain", "instances", "batch"), b'{"instances": {}}')
    assert [issue["path"] for issue in body["issues"]] == ["instances"]


def test_a_validation_error_raised_without_issues_still_carries_one() -> None:
    response = error_response(ValidationError("a batch holds at most 1000 instances"))
    assert json.loads(bytes(response.body)) == {
        "message": "a batch holds at most 1000 instances",
        "code": "VALIDATION_ERROR",
        "issues": [{"path": "", "message": "a batch holds at most 1000 instances"}],
    }
