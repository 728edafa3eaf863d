"""Workflows and helpers shared by the API tests (`tests.api.api_support:workflows`)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from durable import workflow

with warnings.catch_warnings():
    # Starlette 1.x warns on import when its TestClient runs on httpx instead of httpx2. The
    # project depends on httpx, so the warning says nothing about this code.
    warnings.filterwarnings("ignore", "Using `httpx`", UserWarning)
    from starlette.testclient import TestClient

MOUNT = "/api/workflows"
# make_client(**setting_overrides, authorize=None, raise_server_exceptions=True) -> TestClient
AppFactory = Callable[..., TestClient]


def url(*parts: str) -> str:
    return "/".join((MOUNT, *parts))


def create(http: TestClient, wf: str, **body: Any) -> dict[str, Any]:
    response = http.post(url(wf, "instances"), json=body)
    assert response.status_code in (200, 201), response.text
    result: dict[str, Any] = response.json()
    return result


def tick(http: TestClient, **body: Any) -> int:
    response = http.post(url("_runner", "tick"), json=body)
    assert response.status_code == 200, response.text
    processed: int = response.json()["processed"]
    return processed


def status_of(http: TestClient, wf: str, instance_id: str) -> str:
    response = http.get(url(wf, "instances", instance_id))
    assert response.status_code == 200, response.text
    status: str = response.json()["details"]["status"]
    return status


def run_until(http: TestClient, wf: str, instance_id: str, *statuses: str) -> str:
    """Tick the in-process runner until the instance reaches one of `statuses`."""
    status = status_of(http, wf, instance_id)
    for _ in range(20):
        if status in statuses:
            return status
        tick(http)
        status = status_of(http, wf, instance_id)
    raise AssertionError(f"{wf}/{instance_id} stuck in {status}, wanted {statuses}")


class Greeting(BaseModel):
    name: str


@workflow("greet", params=Greeting)
async def greet(event: Any, step: Any) -> dict[str, str]:
    name = event.payload.name
    step.log.info("greeting", {"name": name})
    text = await step.do("hello", lambda: f"hello {name}")
    return {"greeting": text}


@workflow("approval")
async def approval(event: Any, step: Any) -> dict[str, Any]:
    received = await step.wait_for_event("approval", type="approval", timeout="1 h")
    return {"approved": (received.payload or {}).get("approved")}


def _fail_first_attempt(ctx: Any) -> str:
    if ctx.attempt < 2:
        raise RuntimeError("first attempt always fails")
    return "second time lucky"


@workflow("flaky")
async def flaky(event: Any, step: Any) -> str:
    result: str = await step.do("wobbly", _fail_first_attempt)
    return result


@workflow("nap")
async def nap(event: Any, step: Any) -> None:
    await step.sleep("long-nap", "1 h")


@workflow("plain")
async def plain(event: Any, step: Any) -> Any:
    return event.payload


workflows = {"greet": greet, "approval": approval, "flaky": flaky, "nap": nap, "plain": plain}
