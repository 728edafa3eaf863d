"""Helpers for the dashboard tests: apps over a real Redis, forms, and moving instances on."""

from __future__ import annotations

import re
import warnings
from html import unescape
from typing import Any

import httpx

from tests.helpers import wait_until

with warnings.catch_warnings():
    # Starlette 1.x warns on import when its TestClient runs on httpx instead of httpx2. The
    # project depends on httpx, so the warning says nothing about this code.
    warnings.filterwarnings("ignore", "Using `httpx`", UserWarning)
    from starlette.testclient import TestClient

API = "/api/workflows"
ORIGIN = "http://testserver"
JSON = {"Accept": "application/json"}


class DashboardClient(TestClient):
    """A TestClient that also knows the headers the JSON API needs (the bearer token, if any)."""

    api_headers: dict[str, str] = {}


def create(http: DashboardClient, workflow: str, instance_id: str, **params: Any) -> None:
    body: dict[str, Any] = {"id": instance_id}
    if params:
        body["params"] = params
    response = http.post(f"{API}/{workflow}/instances", json=body, headers=http.api_headers)
    assert response.status_code in (200, 201), response.text


def status(http: DashboardClient, workflow: str, instance_id: str) -> str:
    response = http.get(f"{API}/{workflow}/instances/{instance_id}", headers=http.api_headers)
    assert response.status_code == 200, response.text
    value: str = response.json()["details"]["status"]
    return value


def run_until(http: DashboardClient, workflow: str, instance_id: str, *statuses: str) -> str:
    """Advance due work in the API process (the runner tick) until the instance gets there."""

    def reached() -> str | None:
        tick = http.post(f"{API}/_runner/tick", json={}, headers=http.api_headers)
        assert tick.status_code == 200, tick.text
        now = status(http, workflow, instance_id)
        return now if now in statuses else None

    found: str = wait_until(reached, timeout=15)
    return found


def post_form(
    http: DashboardClient,
    path: str,
    data: dict[str, str],
    *,
    origin: str | None = ORIGIN,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    sent = {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})}
    if origin is not None:
        sent["Origin"] = origin
    response: httpx.Response = http.post(
        path, content=httpx.QueryParams(data).__str__(), headers=sent, follow_redirects=False
    )
    return response


def text_of(html: str) -> str:
    """The visible words of a page, tags removed and spaces folded (for plain assertions)."""
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()
