"""Every response the API declares in its OpenAPI document is served, and every response served
matches the schema the document declares for its route and status (real Redis, TestClient).

The document's object schemas are closed for the check (no property it does not name), its
error responses name the codes each status may carry, and timestamps must be the API's
ISO-8601 with milliseconds, so neither the shapes nor the document can drift from the other.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from dataclasses import replace
from typing import Any
from urllib.parse import quote

import pytest
from jsonschema import Draft202012Validator, FormatChecker  # type: ignore[import-untyped]
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from starlette.testclient import TestClient

from durable import NonRetryableError, workflow
from durable.api import create_app
from durable.settings import Settings
from tests.api import api_support
from tests.api.api_support import MOUNT
from tests.helpers import free_port

pytestmark = pytest.mark.timeout(120)

DOCUMENT_URI = "urn:durable:openapi"
ISO_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def _api_timestamp(value: object) -> bool:
    return not isinstance(value, str) or bool(ISO_MS.fullmatch(value))


FORMATS = FormatChecker(formats=())
FORMATS.checks("date-time")(_api_timestamp)


@workflow("doomed")
async def doomed(event: Any, step: Any) -> Any:
    def refuse() -> None:
        raise NonRetryableError("card declined", name="CardDeclined")

    return await step.do("charge", refuse)


@workflow("broken")
async def broken(event: Any, step: Any) -> Any:
    raise RuntimeError("fails outside any step")


@workflow("quiet")
async def quiet(event: Any, step: Any) -> None:
    step.log.info("starting")
    await step.do("nothing", lambda: None)
    step.log.info("still nothing")
    await step.do("nothing", lambda: None)


WORKFLOWS = {**api_support.workflows, "doomed": doomed, "broken": broken, "quiet": quiet}


def closed(document: dict[str, Any]) -> dict[str, Any]:
    """A copy whose component schemas allow no property they do not name."""
    strict = copy.deepcopy(document)
    for name, schema in strict["components"]["schemas"].items():
        if "properties" in schema and "additionalProperties" not in schema:
            schema["additionalProperties"] = name == "OpenAPIDocument"
    return strict


class Conformance:
    """Checks responses against one document and notes which declared responses were seen."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = closed(document)
        resource = Resource.from_contents(self.document, default_specification=DRAFT202012)
        self.registry: Registry[Any] = Registry().with_resource(DOCUMENT_URI, resource)
        self.seen: set[tuple[str, str, str]] = set()

    def declared(self) -> set[tuple[str, str, str]]:
        """(path template under the mount, method, status) of every declared response."""
        return {
            (path.removeprefix(MOUNT), method, status)
            for path, operations in self.document["paths"].items()
            for method, operation in operations.items()
            for status in operation["responses"]
        }

    def check(self, template: str, method: str, response: Any) -> Any:
        status = str(response.status_code)
        responses = self.document["paths"][MOUNT + template][method]["responses"]
        assert status in responses, f"{method} {template}: undeclared {status} {response.text}"
        pointer = "/".join(
            ("paths", _escape(MOUNT + template), method, "responses", status, "content")
        )
        ref = f"{DOCUMENT_URI}#/{quote(pointer, safe='/~')}/application~1json/schema"
        validator = Draft202012Validator(
            {"$ref": ref}, registry=self.registry, format_checker=FORMATS
        )
        body = response.json()
        problems = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(body)]
        assert not problems, f"{method} {template} {status}: {problems}\n{body}"
        self.seen.add((template, method, status))
        return body


def _escape(path: str) -> str:
    return path.replace("~", "~0").replace("/", "~1")


class Api:
    """Calls one app by route template and checks each answer against the document."""

    def __init__(self, http: TestClient, conformance: Conformance, **headers: str) -> None:
        self.http = http
        self.conformance = conformance
        self.headers = headers

    def call(
        self,
        method: str,
        template: str,
        status: int,
        *,
        wf: str = "plain",
        iid: str = "x1",
        **kwargs: Any,
    ) -> Any:
        path = MOUNT + template.replace("{workflow}", wf).replace("{id}", iid)
        headers = {**self.headers, **kwargs.pop("headers", {})}
        response = self.http.request(method.upper(), path or "/", headers=headers, **kwargs)
        assert response.status_code == status, f"{method} {path}: {response.text}"
        return self.conformance.check(template, method, response)


INSTANCES = "/{workflow}/instances"
INSTANCE = "/{workflow}/instances/{id}"
CONTROLS = ("pause", "resume", "terminate", "restart")
SCHEDULES = "/{workflow}/schedules"
SCHEDULE = "/{workflow}/schedules/{id}"
BULK = ("terminate", "restart", "retry-step")
# A body every POST route accepts as valid, for the routes' error responses.
VALID_BODY: dict[str, Any] = {
    "/_runner/tick": {},
    INSTANCES: {"id": "x1"},
    f"{INSTANCES}/batch": {"instances": [{"id": "x1"}]},
    f"{INSTANCE}/events": {"type": "go"},
    "/{workflow}/schedules": {"id": "v1", "every": "1 h"},
    **{f"/{{workflow}}/bulk/{action}": {"status": "running"} for action in BULK},
}
TEXT: dict[str, Any] = {"content": "{}", "headers": {"content-type": "text/plain"}}


@pytest.fixture
def app(api_settings: Settings) -> Iterator[Any]:
    """make(**setting_overrides, authorize=None) -> (TestClient, Conformance)."""
    opened: list[TestClient] = []

    def make(*, authorize: Any = None, **overrides: Any) -> TestClient:
        settings = replace(api_settings, **overrides)
        application = create_app(settings, workflows=WORKFLOWS, authorize=authorize)
        http = TestClient(application, raise_server_exceptions=False)
        opened.append(http.__enter__())
        return http

    yield make
    for http in opened:
        http.__exit__(None, None, None)


def routes(conformance: Conformance) -> list[tuple[str, str]]:
    """(path template, method) of every operation in the document."""
    return sorted({(template, method) for template, method, _ in conformance.declared()})


def test_every_declared_response_is_served_and_matches_its_schema(app: Any) -> None:
    http = app()
    conformance = Conformance(http.get(f"{MOUNT}/openapi.json").json())
    api = Api(http, conformance)
    _successes(api)
    _client_errors(api)
    _body_errors(Api(app(max_body_bytes=64), conformance))
    _tick_disabled(Api(app(enable_runner_tick=False), conformance))
    _every_route(Api(app(api_token="t"), conformance), 401)
    _every_route(Api(app(authorize=_crash), conformance), 500)
    unreachable = f"redis://127.0.0.1:{free_port()}/0"
    _every_route(Api(app(redis_url=unreachable), conformance), 503)
    missing = conformance.declared() - conformance.seen
    assert not missing, f"declared but never served: {sorted(missing)}"


def test_a_shape_that_drifts_from_the_document_fails_the_check(http: TestClient) -> None:
    conformance = Conformance(http.get(f"{MOUNT}/openapi.json").json())
    http.post(f"{MOUNT}/plain/instances", json={"id": "d1"})
    good = http.get(f"{MOUNT}/plain/instances")
    conformance.check(INSTANCES, "get", good)
    for drifted in (
        {"instances": [], "hasNextPage": False, "cursor": None},  # null instead of absent
        {"instances": [], "hasNextPage": False, "extra": 1},  # a field the document lacks
        {  # a timestamp without milliseconds
            "instances": [{**good.json()["instances"][0], "createdAt": "2026-01-01T00:00:00Z"}],
            "hasNextPage": False,
        },
    ):
        with pytest.raises(AssertionError):
            conformance.check(INSTANCES, "get", _Fake(200, drifted))
    with pytest.raises(AssertionError, match="undeclared"):
        conformance.check(INSTANCES, "get", _Fake(409, {"message": "m", "code": "X"}))
    with pytest.raises(AssertionError):  # a code the route does not declare for 404
        conformance.check(INSTANCES, "get", _Fake(404, {"message": "m", "code": "NOPE"}))


class _Fake:
    def __init__(self, status_code: int, body: Any) -> None:
        self.status_code = status_code
        self.body = body
        self.text = str(body)

    def json(self) -> Any:
        return self.body


def _crash(request: Any) -> bool:
    raise RuntimeError("a policy that breaks")


def _tick(api: Api) -> None:
    for _ in range(10):
        if api.call("post", "/_runner/tick", 200, json={})["processed"] == 0:
            return
    raise AssertionError("the runner tick did not settle")


def _successes(api: Api) -> None:
    api.call("get", "", 200)
    api.call("get", "/openapi.json", 200)
    api.call("get", "/health", 200)
    api.call("post", INSTANCES, 201, json={"id": "p1", "params": {"x": 1}})
    api.call("post", INSTANCES, 200, json={"id": "p1", "params": {"x": 1}})
    api.call("post", INSTANCES, 201, wf="quiet", json={"id": "q1"})  # output null
    api.call("post", f"{INSTANCES}/batch", 200, json={"instances": [{"id": "b1"}, {"id": "b2"}]})
    for wf, iid in (("approval", "a1"), ("approval", "a2"), ("nap", "n1"), ("flaky", "f1")):
        api.call("post", INSTANCES, 201, wf=wf, json={"id": iid})
    for wf, iid in (("doomed", "d1"), ("broken", "k1"), ("greet", "g1")):
        params = {"name": "Ada"} if wf == "greet" else None
        api.call("post", INSTANCES, 201, wf=wf, json={"id": iid, "params": params})
    queued = api.call("get", INSTANCE, 200, iid="b1")
    assert queued["details"] == {"status": "queued", "runNumber": 0}
    _tick(api)
    _reads(api)
    _controls(api)
    _schedules(api)


def _reads(api: Api) -> None:
    quiet = api.call("get", INSTANCE, 200, wf="quiet", iid="q1")["details"]
    assert quiet == {"status": "complete", "runNumber": 0, "output": None}
    waiting = api.call("get", INSTANCE, 200, wf="approval", iid="a1")
    assert waiting["meta"]["currentStep"]["waitEventType"] == "approval"
    assert api.call("get", INSTANCE, 200, wf="nap", iid="n1")["meta"]["currentStep"]["wakeAt"]
    assert api.call("get", INSTANCE, 200, wf="doomed", iid="d1")["details"]["error"]
    first = api.call("get", INSTANCES, 200, params={"pageSize": "1"})
    last = api.call("get", INSTANCES, 200, params={"pageSize": "100", "cursor": first["cursor"]})
    assert "cursor" not in last and not last["hasNextPage"]
    api.call("get", INSTANCES, 200, params={"status": "waitingForPause"}, wf="approval")
    query = {"includeLogs": "true", "pageSize": "1", "order": "asc"}
    history = api.call("get", f"{INSTANCE}/history", 200, wf="quiet", iid="q1", params=query)
    assert history["stepsCursor"] and history["logsCursor"] and history["logsHasNextPage"]
    retried = api.call("get", f"{INSTANCE}/history", 200, wf="flaky", iid="f1", params=query)
    assert retried["steps"][0]["failedAttempts"][0]["at"]
    failed = api.call("get", f"{INSTANCE}/history", 200, wf="doomed", iid="d1")
    assert failed["steps"][0]["failedAttempts"] and "logs" not in failed


def _controls(api: Api) -> None:
    event = {"type": "approval", "payload": {"approved": True}, "id": "e1"}
    api.call("post", f"{INSTANCE}/events", 200, wf="approval", iid="a1", json=event)
    api.call("post", f"{INSTANCE}/events", 200, wf="approval", iid="a2", json={"type": "other"})
    _tick(api)
    history = api.call("get", f"{INSTANCE}/history", 200, wf="approval", iid="a1")
    assert history["events"][0]["consumedByStepKey"] == "approval"
    for action in CONTROLS:
        api.call("post", f"{INSTANCE}/{action}", 200, wf="approval", iid="a2")
    retry = api.call("post", f"{INSTANCE}/retry-failed-step", 200, wf="doomed", iid="d1")
    assert retry["retry"]["replay"] is False
    api.call("post", f"{INSTANCE}/terminate", 200, wf="doomed", iid="d1", json={})
    key = {"idempotency-key": "restart-d1"}
    api.call("post", f"{INSTANCE}/restart", 200, wf="doomed", iid="d1", headers=key)


def _schedules(api: Api) -> None:
    made = api.call("post", SCHEDULES, 201, json={"id": "c1", "cron": "0 3 * * *"})
    assert "every" not in made and "lastRunAt" not in made
    api.call("post", SCHEDULES, 200, json={"id": "c1", "every": "1 h"})
    api.call("get", SCHEDULES, 200)
    api.call("get", SCHEDULE, 200, iid="c1")
    for action in ("pause", "resume", "trigger"):
        api.call("post", f"{SCHEDULE}/{action}", 200, iid="c1", json={})
    _tick(api)
    assert api.call("get", SCHEDULE, 200, iid="c1")["lastInstanceId"].startswith("c1:")
    api.call("delete", SCHEDULE, 200, iid="c1")
    for action in BULK:
        api.call("post", f"/{{workflow}}/bulk/{action}", 200, json={"ids": ["b1"]})


def _schedule_errors(api: Api) -> None:
    api.call("get", SCHEDULES, 404, wf="nope")
    api.call("post", SCHEDULES, 404, wf="nope", json={"id": "x", "every": "1 h"})
    api.call("post", SCHEDULES, 400, json={"id": "x", "cron": "nope"})
    for method in ("get", "delete"):
        api.call(method, SCHEDULE, 404, iid="missing")
    for action in ("pause", "resume", "trigger"):
        api.call("post", f"{SCHEDULE}/{action}", 404, iid="missing")
        api.call("post", f"{SCHEDULE}/{action}", 400, iid="missing", json={"x": 1})
    for action in BULK:
        api.call("post", f"/{{workflow}}/bulk/{action}", 404, wf="nope", json={"ids": []})
        api.call("post", f"/{{workflow}}/bulk/{action}", 400, json={})


def _client_errors(api: Api) -> None:
    api.call("post", INSTANCES, 404, wf="nope", json={})
    api.call("post", INSTANCES, 400, wf="greet", json={"params": {}})
    api.call("post", f"{INSTANCES}/batch", 404, wf="nope", json={"instances": []})
    api.call("post", f"{INSTANCES}/batch", 400, json={"instances": [{"id": "-bad"}]})
    api.call("post", "/_runner/tick", 400, json={"maxInstances": 0})
    api.call("get", INSTANCES, 404, wf="nope")
    api.call("get", INSTANCES, 400, params={"cursor": "garbage"})
    api.call("get", INSTANCE, 404, iid="missing")
    api.call("get", INSTANCE, 400, iid="-bad")
    api.call("get", f"{INSTANCE}/history", 404, iid="missing")
    api.call("get", f"{INSTANCE}/history", 400, iid="p1", params={"runNumber": "7"})
    api.call("post", f"{INSTANCE}/events", 404, iid="missing", json={"type": "go"})
    api.call("post", f"{INSTANCE}/events", 400, iid="p1", json={"type": 5})
    api.call("post", f"{INSTANCE}/events", 409, iid="p1", json={"type": "go"})
    for action in CONTROLS:
        api.call("post", f"{INSTANCE}/{action}", 404, iid="missing")
        api.call("post", f"{INSTANCE}/{action}", 400, iid="p1", json={"unknown": 1})
        if action != "restart":
            api.call("post", f"{INSTANCE}/{action}", 409, iid="p1")
    retry = f"{INSTANCE}/retry-failed-step"
    api.call("post", retry, 404, iid="missing")
    api.call("post", retry, 400, iid="p1", json={"delayMs": -1})
    api.call("post", retry, 409, iid="p1")  # complete: not errored
    api.call("post", retry, 409, wf="broken", iid="k1")  # errored outside a step
    _schedule_errors(api)


def _body_errors(api: Api) -> None:
    """413 and 415 on every route that reads a body."""
    for template, method in routes(api.conformance):
        if method != "post":
            continue
        big = {**VALID_BODY.get(template, {}), "padding": "x" * 100}
        api.call(method, template, 413, iid="p1", json=big)
        api.call(method, template, 415, iid="p1", **TEXT)


def _tick_disabled(api: Api) -> None:
    api.call("post", "/_runner/tick", 403, json={})


def _every_route(api: Api, status: int) -> None:
    """Each route that can answer `status` (per the document) does, for a valid request."""
    for template, method in routes(api.conformance):
        declared = api.conformance.document["paths"][MOUNT + template][method]["responses"]
        if str(status) not in declared:
            continue
        body = VALID_BODY.get(template, {}) if method == "post" else None
        api.call(method, template, status, json=body)
