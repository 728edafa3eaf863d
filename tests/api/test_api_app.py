"""create_app options, the env-driven factory, and the OpenAPI document."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

import durable.api.app
from durable.api import create_app
from durable.errors import ConfigurationError
from durable.settings import Settings
from tests.api.api_support import MOUNT, AppFactory, greet, plain, workflows


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, api_settings: Settings) -> Iterator[pytest.MonkeyPatch]:
    monkeypatch.setenv("REDIS_URL", api_settings.redis_url)
    monkeypatch.setenv("DURABLE_PREFIX", api_settings.prefix)
    monkeypatch.setenv("DURABLE_WORKFLOWS", "tests.api.api_support:workflows")
    monkeypatch.delenv("DURABLE_API_TOKEN", raising=False)
    monkeypatch.delenv("DURABLE_MOUNT_PATH", raising=False)
    yield monkeypatch


def names(http: TestClient, path: str = MOUNT) -> list[str]:
    response = http.get(path)
    assert response.status_code == 200, response.text
    return sorted(item["name"] for item in response.json()["workflows"])


def test_zero_argument_factory_reads_the_environment(env: pytest.MonkeyPatch) -> None:
    env.setenv("DURABLE_MOUNT_PATH", "/flows")
    with TestClient(durable.api.app.app()) as http:
        assert names(http, "/flows") == sorted(w.name for w in workflows.values())


def test_workflows_default_to_the_registry_in_the_environment(
    env: pytest.MonkeyPatch, api_settings: Settings
) -> None:
    with TestClient(create_app(api_settings)) as http:
        assert "greet" in names(http)


def test_without_workflows_or_environment_create_app_refuses(
    env: pytest.MonkeyPatch, api_settings: Settings
) -> None:
    env.delenv("DURABLE_WORKFLOWS")
    with pytest.raises(ConfigurationError, match="DURABLE_WORKFLOWS"):
        create_app(api_settings)


def test_workflows_may_be_a_list(api_settings: Settings) -> None:
    with TestClient(create_app(api_settings, workflows=[greet, plain])) as http:
        assert names(http) == ["greet", "plain"]


@pytest.mark.parametrize(("mount", "root"), [("/wf/", "/wf"), ("", "/"), ("/", "/")])
def test_the_mount_path_is_configurable(make_client: AppFactory, mount: str, root: str) -> None:
    http = make_client(mount_path=mount)
    assert "greet" in names(http, root)
    base = root.rstrip("/")
    assert http.post(f"{base}/plain/instances", json={}).status_code == 201
    assert http.get(f"{base}/health").json() == {"ok": True, "redis": "up"}
    assert f"{base}/{{workflow}}/instances" in http.get(f"{base}/openapi.json").json()["paths"]


def test_openapi_lists_every_route_and_method(http: TestClient) -> None:
    document = http.get(f"{MOUNT}/openapi.json").json()
    assert document["openapi"].startswith("3.")
    routes = [r for r in http.app.routes if isinstance(r, Route) and r.include_in_schema]  # type: ignore[attr-defined]
    expected = {(r.path_format, m.lower()) for r in routes for m in r.methods or () if m != "HEAD"}
    listed = {(path, method) for path, ops in document["paths"].items() for method in ops}
    assert listed == expected
    assert len(expected) == 25  # 15 of instances and service, 7 of schedules, 3 bulk


def test_openapi_references_resolve(http: TestClient) -> None:
    document = http.get(f"{MOUNT}/openapi.json").json()
    schemas = document["components"]["schemas"]
    refs = list(_refs(document))
    assert refs
    for ref in refs:
        assert ref.removeprefix("#/components/schemas/") in schemas, ref
    for name in ("CreateInstanceBody", "SendEventBody", "History", "Instance", "Error"):
        assert name in schemas


def test_openapi_marks_bearer_auth_when_a_token_is_set(
    api_settings: Settings, make_client: AppFactory
) -> None:
    http = make_client(api_token="t")
    document = http.get(f"{MOUNT}/openapi.json", headers={"authorization": "Bearer t"}).json()
    assert document["security"] == [{"bearerAuth": []}]
    assert document["paths"][f"{MOUNT}/health"]["get"]["security"] == []


def test_the_app_works_mounted_inside_another_starlette_app(api_settings: Settings) -> None:
    inner = create_app(replace(api_settings, api_token="t"), workflows=workflows)
    auth = {"authorization": "Bearer t"}
    with TestClient(Starlette(routes=[Mount("/svc", app=inner)])) as http:
        response = http.post(f"/svc{MOUNT}/plain/instances", json={"id": "in"}, headers=auth)
        assert response.status_code == 201
        assert http.get(f"/svc{MOUNT}/plain/instances/in", headers=auth).json()["id"] == "in"
        assert http.get(f"/svc{MOUNT}/plain/instances/in").status_code == 401
        assert http.get(f"/svc{MOUNT}/health").status_code == 200


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def test_an_app_with_other_partitions_than_redis_answers_503_saying_so(
    make_client: AppFactory,
) -> None:
    first = make_client(partitions=2)
    assert first.get(f"{MOUNT}/{greet.name}/instances").status_code == 200  # stores 2
    other = make_client(partitions=3, raise_server_exceptions=False)
    response = other.get(f"{MOUNT}/{greet.name}/instances")
    assert response.status_code == 503
    body = response.json()
    assert body["code"] == "SERVICE_UNAVAILABLE"
    assert "partitions" in body["message"] and "3" in body["message"]
    assert "Traceback" not in response.text
