"""Security: nothing stored is pickled, every route honours the bearer token, and no error body
carries internals (tracebacks, file paths, Redis error text)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from redis.asyncio import Redis
from starlette.routing import Route

from durable import keys
from durable.api import create_app
from durable.client import Client
from durable.partitions import Layout
from durable.settings import Settings
from tests.conftest import REDIS_URL
from tests.helpers import assert_eventually, free_port, reply, sync_redis
from tests.reliability import flows
from tests.reliability.support import MOUNT, TestClient

pytestmark = pytest.mark.timeout(60)

TOKEN = "rel-s3cret-Token"
PICKLE_MARKER = b"\x80"
# Text that would reveal the server's insides: Python, paths, Redis replies and exceptions.
INTERNALS = re.compile(
    r"Traceback|File \"|/work/|\.py\b|site-packages|WRONGTYPE|NOSCRIPT|ERR |"
    r"Error \d+ connecting|Connection refused|ResponseError|redis\.exceptions|user_script|"
    r"ValueError|KeyError|TypeError",
)


# -- nothing pickled -----------------------------------------------------------------------------


async def values_of(redis: Redis, key: bytes) -> tuple[str, list[bytes]]:
    """Every stored byte string of a key: string value, hash fields and values, members."""
    kind = (await redis.type(key)).decode()
    if kind == "string":
        return kind, [await redis.get(key) or b""]
    if kind == "hash":
        pairs: dict[bytes, bytes] = await reply(redis.hgetall(key.decode()))
        return kind, [*pairs.keys(), *pairs.values()]
    if kind == "list":
        return kind, await reply(redis.lrange(key.decode(), 0, -1))
    if kind == "zset":
        return kind, await redis.zrange(key, 0, -1)
    if kind == "set":
        return kind, list(await reply(redis.smembers(key.decode())))
    return kind, []


def json_problems(key: bytes, kind: str, values: list[bytes]) -> list[str]:
    """Values that look like JSON must parse; zset members are ids, not documents."""
    problems = []
    for value in values if kind in ("string", "hash", "list") else []:
        if value[:1] in (b"{", b"["):
            try:
                json.loads(value)
            except ValueError:
                problems.append(f"{key!r}: not JSON: {value[:60]!r}")
    return problems


async def stored_keys(redis: Redis, prefix: str) -> list[bytes]:
    found = []
    for pattern in (f"{prefix}:*", f"arq:*{prefix}:*"):
        found += [key async for key in redis.scan_iter(match=pattern, count=500)]
    return found


async def drive_every_kind_of_state(client: Client) -> None:
    """Complete, errored (after retries), paused, terminated, sleeping, waiting, restarted."""
    for iid in ("done1", "done2", "asleep", "waiting", "paused", "ended"):
        nap = 60_000 if iid == "asleep" else 10
        await client.create("rel-chain", instance_id=iid, params={"nap_ms": nap, "waits": 1})
    await client.create("rel-loop", instance_id="looped", params={"n": 6})
    await client.create("rel-fail", instance_id="failed")
    for iid in ("done1", "done2"):
        await client.send_event("rel-chain", iid, type="go", payload={"x": [1, "ü"]}, event_id="e1")
        await client.send_event("rel-chain", iid, type="go", payload="again", event_id="e1")
        await client.send_event("rel-chain", iid, type="noise", payload=None)
    await client.pause("rel-chain", "paused")
    await client.terminate("rel-chain", "ended")

    async def settled() -> bool:
        got = {i: await client.get(w, i) for w, i in SETTLED}
        want = {"done1": "complete", "looped": "complete", "failed": "errored"}
        return all(got[i].details.status == s for i, s in want.items()) and (
            (step := got["waiting"].meta.current_step) is not None and step.type == "waitForEvent"
        )

    await assert_eventually(settled, 20, interval=0.05)
    await client.restart("rel-chain", "done2")


SETTLED = [("rel-chain", "done1"), ("rel-loop", "looped"), ("rel-fail", "failed")]
SETTLED += [("rel-chain", "waiting")]


async def test_nothing_stored_is_pickled_and_json_values_parse(
    settings: Settings, workers: Any, redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DURABLE_PREFIX", settings.prefix)
    monkeypatch.setenv("REDIS_URL", REDIS_URL)
    await workers.start(flows.workflows, count=2)
    client = Client(flows.workflows, settings)
    try:
        await drive_every_kind_of_state(client)
    finally:
        await client.aclose()
    kinds: dict[str, int] = {}
    problems: list[str] = []
    for key in await stored_keys(redis, settings.prefix):
        kind, values = await values_of(redis, key)
        kinds[kind] = kinds.get(kind, 0) + 1
        pickled = [v[:20] for v in values if v.startswith(PICKLE_MARKER)]
        if pickled:
            problems.append(f"{key!r} ({kind}) holds pickle-like bytes {pickled}")
        if kind not in ("string", "hash", "list", "zset", "set", "none"):
            problems.append(f"{key!r} has unexpected type {kind}")
        problems += json_problems(key, kind, values)
    print(f"scanned keys by type: {kinds}")
    assert problems == []
    arq_jobs = [k async for k in redis.scan_iter(match=f"arq:job:{settings.prefix}:*")]
    assert arq_jobs, "expected the sleeping instance's arq job to be stored"
    jobs = [raw for raw in [await redis.get(key) for key in arq_jobs] if raw is not None]
    assert jobs, "expected the sleeping instance's arq job to be stored"
    for raw in jobs:  # a job may be taken and dropped between the scan and its read
        job = json.loads(raw)
        assert set(job) >= {"t", "f", "a", "k", "et"}, job
    assert {"string", "hash", "list", "zset"} <= set(kinds), kinds


# -- auth ----------------------------------------------------------------------------------------


@pytest.fixture
def api_settings(prefix: str) -> Settings:
    return Settings(redis_url=REDIS_URL, prefix=prefix, api_token=TOKEN, enable_runner_tick=True)


@pytest.fixture
def secured(api_settings: Settings) -> Iterator[TestClient]:
    app = create_app(api_settings, workflows=flows.workflows)
    with TestClient(app, raise_server_exceptions=False) as http:
        good = {"authorization": f"Bearer {TOKEN}"}
        assert http.post(f"{MOUNT}/rel-chain/instances", json={"id": "a1"}, headers=good).is_success
        yield http


def operations(http: TestClient) -> list[tuple[str, str, bool]]:
    """(method, concrete path, open?) for every operation in the OpenAPI document."""
    doc = http.get(f"{MOUNT}/openapi.json", headers={"authorization": f"Bearer {TOKEN}"}).json()
    out = []
    for path, methods in doc["paths"].items():
        concrete = path.replace("{workflow}", "rel-chain").replace("{id}", "a1")
        for method, spec in methods.items():
            out.append((method.upper(), concrete, spec.get("security") == []))
    return out


def app_routes(http: TestClient) -> set[tuple[str, str]]:
    app: Any = http.app
    return {
        (method, route.path)
        for route in app.routes
        if isinstance(route, Route) and route.include_in_schema
        for method in route.methods or ()
        if method != "HEAD"
    }


BAD_CREDENTIALS: list[dict[str, str]] = [
    {},
    {"authorization": "Bearer wrong"},
    {"authorization": f"Bearer {TOKEN}x"},
    {"authorization": f"Bearer {TOKEN[:-1]}"},
    {"authorization": f"Basic {TOKEN}"},
    {"authorization": TOKEN},
    {"authorization": "Bearer"},
    {"x-api-token": TOKEN},
]


def test_the_openapi_document_lists_every_route(secured: TestClient) -> None:
    documented = {(m, p) for m, p, _ in operations(secured)}
    raw = {
        (m, p.replace("{workflow}", "rel-chain").replace("{id}", "a1"))
        for m, p in app_routes(secured)
    }
    assert raw == documented


def test_every_route_but_health_needs_the_bearer_token(secured: TestClient) -> None:
    ops = operations(secured)
    assert len(ops) >= 14
    for method, path, is_open in ops:
        for headers in BAD_CREDENTIALS:
            response = secured.request(method, path, headers=headers, params={"token": TOKEN})
            if is_open:
                assert response.status_code != 401, (method, path)
                continue
            assert response.status_code == 401, (method, path, headers, response.text)
            assert response.json()["code"] == "UNAUTHORIZED"
            assert response.headers["www-authenticate"] == "Bearer"
        good = {"authorization": f"Bearer {TOKEN}", "content-type": "application/json"}
        allowed = secured.request(method, path, headers=good, content=b"{}")
        assert allowed.status_code != 401, (method, path, allowed.text)
    assert {p for _, p, is_open in ops if is_open} == {f"{MOUNT}/health"}
    assert secured.get("/health").status_code == 200


def test_unknown_paths_answer_401_before_404(secured: TestClient) -> None:
    for path in ("/", "/admin", f"{MOUNT}/../etc/passwd", f"{MOUNT}/rel-chain/nothing"):
        assert secured.get(path).status_code == 401, path
    good = {"authorization": f"Bearer {TOKEN}"}
    assert secured.get(f"{MOUNT}/rel-chain/nothing", headers=good).status_code == 404


def test_the_token_from_the_environment_is_enforced(
    prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DURABLE_API_TOKEN", TOKEN)
    settings = Settings.from_env(redis_url=REDIS_URL, prefix=prefix)
    with TestClient(create_app(settings, workflows=flows.workflows)) as http:
        assert http.get(MOUNT).status_code == 401
        assert http.get(MOUNT, headers={"authorization": f"Bearer {TOKEN}"}).status_code == 200
        assert http.get(f"{MOUNT}/health").status_code == 200


# -- no internals in error bodies ----------------------------------------------------------------

BAD_REQUESTS: list[tuple[str, str, Any]] = [
    ("GET", "/ghost/instances", None),
    ("GET", "/rel-chain/instances/nobody", None),
    ("GET", "/rel-chain/instances/bad%20id", None),
    ("GET", "/rel-chain/instances?pageSize=0", None),
    ("GET", "/rel-chain/instances?cursor=%%%", None),
    ("GET", "/rel-chain/instances/a1/history?runNumber=99", None),
    ("DELETE", "/rel-chain/instances/a1", None),
    ("POST", "/rel-chain/instances", b"{not json"),
    ("POST", "/rel-chain/instances", b"\xff\xfe"),
    ("POST", "/rel-chain/instances", b'{"params": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"),
    ("POST", "/rel-chain/instances", b'{"id": 5}'),
    ("POST", "/rel-chain/instances", b'{"params": "' + b"x" * (1024 * 1024) + b'"}'),
    ("POST", "/rel-chain/instances/a1/events", b'{"type": "bad type"}'),
    ("POST", "/rel-chain/instances/a1/retry-failed-step", b"{}"),
    ("POST", "/rel-chain/instances/batch", b'{"instances": [{"id": "x", "params": 1e999}]}'),
    ("POST", "/_runner/tick", b'{"maxSteps": -1}'),
]


def assert_no_internals(response: Any) -> dict[str, Any]:
    assert response.status_code >= 400, response.text
    body: dict[str, Any] = response.json()
    assert set(body) <= {"message", "code", "issues", "ok", "redis"}, body
    assert not INTERNALS.search(response.text), response.text[:300]
    return body


@pytest.fixture
def open_api(api_settings: Settings) -> Iterator[TestClient]:
    app = create_app(replace(api_settings, api_token=None), workflows=flows.workflows)
    with TestClient(app, raise_server_exceptions=False) as http:
        assert http.post(f"{MOUNT}/rel-chain/instances", json={"id": "a1"}).is_success
        yield http


def test_client_errors_carry_no_internals(open_api: TestClient) -> None:
    seen = set()
    for method, path, body in BAD_REQUESTS:
        headers = {"content-type": "application/json"}
        response = open_api.request(method, MOUNT + path, content=body, headers=headers)
        seen.add(assert_no_internals(response)["code"])
    assert len(seen) >= 8, seen


def test_a_redis_error_reply_becomes_a_generic_500(
    open_api: TestClient, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    assert open_api.get(f"{MOUNT}/rel-chain/instances/broken").status_code == 404
    conn = sync_redis(REDIS_URL)
    try:
        meta = {k.decode(): v.decode() for k, v in conn.hgetall(keys.meta_key(prefix)).items()}
        space = Layout.from_fields(prefix, meta).space_of("rel-chain", "broken")
        conn.set(keys.instance_key(space, "rel-chain", "broken"), "not a hash")  # WRONGTYPE
    finally:
        conn.close()
    for method, path in [("GET", ""), ("GET", "/history"), ("POST", "/pause")]:
        response = open_api.request(method, f"{MOUNT}/rel-chain/instances/broken{path}")
        assert response.status_code == 500, response.text
        body = assert_no_internals(response)
        assert body == {"message": "internal server error", "code": "INTERNAL_SERVER_ERROR"}
    assert "WRONGTYPE" in caplog.text  # the operator still sees it in the server log


def test_redis_down_errors_carry_no_internals(api_settings: Settings) -> None:
    down = replace(api_settings, redis_url=f"redis://127.0.0.1:{free_port()}/0", api_token=None)
    with TestClient(create_app(down, workflows=flows.workflows)) as http:
        for method, path in [("GET", "/rel-chain/instances"), ("POST", "/rel-chain/instances")]:
            response = http.request(method, MOUNT + path)
            assert response.status_code == 503
            assert assert_no_internals(response)["code"] == "SERVICE_UNAVAILABLE"
        assert_no_internals(http.get(f"{MOUNT}/health"))
