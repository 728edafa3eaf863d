"""The HTTP API while its Redis goes away: prompt 503s, then recovery without a restart and no
acknowledged write lost (the private Redis runs with AOF, fsync always)."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from durable.settings import Settings
from tests.helpers import PrivateRedis, wait_until
from tests.reliability import flows
from tests.reliability.support import MOUNT, api_server

pytestmark = pytest.mark.timeout(90)

# The API gives up on Redis after 5 s (10 s for a frozen one: it cannot be told from a slow one
# before the client's 5 s socket timeout). The tests bound each request generously above that:
# a request that hangs fails by timing out; how long a prompt answer took is not measured.
PROMPT_S = 15.0
FROZEN_S = 20.0
INTERNALS = ("Traceback", "/work/", ".py", "Error 111", "Connection refused", "redis.exceptions")
# Requests that need Redis, with a body where the route takes one.
NEEDS_REDIS: list[tuple[str, str, Any]] = [
    ("GET", "/rel-chain/instances", None),
    ("GET", "/rel-chain/instances/kept", None),
    ("GET", "/rel-chain/instances/kept/history", None),
    ("POST", "/rel-chain/instances", {"id": "during-outage"}),
    ("POST", "/rel-chain/instances/batch", {"instances": [{"id": "batch-outage"}]}),
    ("POST", "/rel-chain/instances/kept/events", {"type": "go", "payload": 1, "id": "out-1"}),
    ("POST", "/rel-chain/instances/kept/pause", None),
    ("POST", "/rel-chain/instances/kept/resume", None),
    ("POST", "/rel-chain/instances/kept/retry-failed-step", None),
]


@pytest.fixture
def base(private_redis: PrivateRedis, prefix: str) -> Iterator[str]:
    settings = Settings(redis_url=private_redis.url, prefix=prefix)
    with api_server(settings, flows.workflows, timeout_graceful_shutdown=5) as url:
        yield url + MOUNT


def call(
    base: str, method: str, path: str, body: Any = None, timeout: float = PROMPT_S
) -> httpx.Response:
    try:
        return httpx.request(method, base + path, json=body, timeout=timeout)
    except httpx.TimeoutException:
        pytest.fail(f"{method} {path} did not answer within {timeout:g} s")


def assert_unavailable(response: httpx.Response, what: str) -> None:
    assert response.status_code == 503, (what, response.status_code, response.text)
    assert response.json()["code"] == "SERVICE_UNAVAILABLE", (what, response.text)
    assert not any(text in response.text for text in INTERNALS), response.text


def write_before(base: str) -> None:
    created = call(base, "POST", "/rel-chain/instances", {"id": "kept", "params": {"k": "ü"}})
    assert created.status_code == 201, created.text
    event = {"type": "go", "payload": {"n": 2**53, "list": []}, "id": "before-1"}
    sent = call(base, "POST", "/rel-chain/instances/kept/events", event)
    assert sent.status_code == 200, sent.text


def assert_written_before_is_there(base: str) -> None:
    got = call(base, "GET", "/rel-chain/instances/kept")
    assert got.status_code == 200, got.text
    assert got.json()["meta"]["params"] == {"k": "ü"}
    history = call(base, "GET", "/rel-chain/instances/kept/history")
    events = history.json()["events"]
    assert [(e["id"], e["payload"]) for e in events] == [("before-1", {"n": 2**53, "list": []})]


def recovered(base: str) -> bool:
    try:
        response = httpx.get(base + "/rel-chain/instances/kept", timeout=5)
    except httpx.TransportError:
        return False
    return response.status_code == 200


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_api_answers_503_promptly_while_redis_is_down_then_recovers(
    base: str, private_redis: PrivateRedis, how: signal.Signals
) -> None:
    write_before(base)
    private_redis.stop(how)
    for method, path, body in NEEDS_REDIS:
        assert_unavailable(call(base, method, path, body), what=f"{method} {path}")
    for health in (f"{base}/health", base.removesuffix(MOUNT) + "/health"):
        response = httpx.get(health, timeout=PROMPT_S)
        assert response.status_code == 503 and response.json()["redis"] == "down"
    assert httpx.get(base, timeout=5).status_code == 200  # needs no Redis

    private_redis.start()
    wait_until(lambda: recovered(base), timeout=20, interval=0.1)
    assert httpx.get(f"{base}/health", timeout=5).json() == {"ok": True, "redis": "up"}
    assert_written_before_is_there(base)
    created = call(base, "POST", "/rel-chain/instances", {"id": "after"})
    assert created.status_code == 201, created.text
    # Nothing refused with a 503 during the outage was half-written.
    for iid in ("during-outage", "batch-outage"):
        missing = call(base, "GET", f"/rel-chain/instances/{iid}")
        assert missing.status_code == 404, missing.text


def test_api_answers_503_promptly_while_redis_is_frozen(
    base: str, private_redis: PrivateRedis
) -> None:
    """A Redis that accepts connections but never answers (SIGSTOP: a hung host or a network
    partition that drops packets) must also give a bounded 503, not a request that hangs."""
    write_before(base)
    private_redis.freeze()
    try:
        response = call(base, "GET", "/rel-chain/instances/kept", timeout=FROZEN_S)
        assert_unavailable(response, "GET instance with Redis frozen")
        health = call(base, "GET", "/health", timeout=FROZEN_S)
        assert health.status_code == 503
    finally:
        private_redis.thaw()
    wait_until(lambda: recovered(base), timeout=30, interval=0.1)
    assert_written_before_is_there(base)
