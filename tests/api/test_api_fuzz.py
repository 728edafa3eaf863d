"""Random bodies, bytes and query values never produce a 5xx (the server raises on any 500)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from tests.api.api_support import create, url

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = st.sampled_from(
    ["id", "params", "type", "payload", "delayMs", "instances", "maxInstances", "maxSteps"]
)
BODIES = st.dictionaries(FIELDS, JSON, max_size=4) | JSON
POST_ROUTES = st.sampled_from(
    [
        ("greet", "instances"),
        ("plain", "instances"),
        ("plain", "instances", "batch"),
        ("approval", "instances", "fz", "events"),
        ("approval", "instances", "fz", "pause"),
        ("approval", "instances", "fz", "retry-failed-step"),
        ("approval", "instances", "fz", "restart"),
        ("_runner", "tick"),
    ]
)
QUERY_NAMES = st.sampled_from(
    [
        "pageSize",
        "status",
        "cursor",
        "order",
        "runNumber",
        "includeLogs",
        "stepsCursor",
        "eventsCursor",
        "logsCursor",
    ]
)
QUERIES = st.dictionaries(QUERY_NAMES, st.text(max_size=12), max_size=4)
SEGMENTS = st.text(
    alphabet=st.characters(blacklist_categories=["Cs", "Cc"], blacklist_characters="/?#"),
    min_size=1,
    max_size=20,
)
FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def assert_no_server_error(response: Any) -> None:
    assert response.status_code < 500, (response.status_code, response.text)
    assert response.json()["code"] if response.status_code >= 400 else True


def test_random_json_bodies(http: TestClient) -> None:
    create(http, "approval", id="fz")

    @FUZZ
    @given(route=POST_ROUTES, body=BODIES)
    def check(route: tuple[str, ...], body: Any) -> None:
        assert_no_server_error(http.post(url(*route), json=body))

    check()


def test_random_bytes_and_content_types(http: TestClient) -> None:
    create(http, "approval", id="fz")

    @FUZZ
    @given(
        route=POST_ROUTES,
        raw=st.binary(max_size=64),
        content_type=st.sampled_from(["application/json", "text/plain", "", "application/x+json"]),
    )
    def check(route: tuple[str, ...], raw: bytes, content_type: str) -> None:
        headers = {"content-type": content_type} if content_type else {}
        assert_no_server_error(http.post(url(*route), content=raw, headers=headers))

    check()


def test_random_query_values_and_path_segments(http: TestClient) -> None:
    create(http, "approval", id="fz")

    @FUZZ
    @given(
        query=QUERIES,
        workflow=st.sampled_from(["approval", "ghost"]) | SEGMENTS,
        instance=st.sampled_from(["fz", "missing"]) | SEGMENTS,
    )
    def check(query: dict[str, str], workflow: str, instance: str) -> None:
        assert_no_server_error(http.get(url(workflow, "instances"), params=query))
        path = url(workflow, "instances", instance, "history")
        assert_no_server_error(http.get(path, params=query))

    check()
