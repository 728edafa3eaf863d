"""Fixtures for the dashboard's fast tests: the API app (dashboard included) over a real Redis,
reached through Starlette's TestClient. Each test has its own key prefix (tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import replace
from typing import Any, Protocol

import pytest

from durable.api import create_app
from durable.settings import Settings
from tests.dashboard.flows import workflows
from tests.dashboard.support import DashboardClient

TOKEN = "s3cret-token-for-tests"


class AppFactory(Protocol):
    def __call__(self, *, authorize: Any = None, **overrides: Any) -> DashboardClient: ...


@pytest.fixture
def make_http(settings: Settings) -> Iterator[AppFactory]:
    """An app with setting overrides (api_token=..., ...) and an open DashboardClient for it.

    `http.api_headers` carries the bearer token for the JSON API when one is set."""
    with ExitStack() as stack:

        def make(*, authorize: Any = None, **overrides: Any) -> DashboardClient:
            options = {"enable_runner_tick": True, "api_token": None, **overrides}
            app = create_app(replace(settings, **options), workflows=workflows, authorize=authorize)
            client = stack.enter_context(DashboardClient(app))
            token = options["api_token"]
            client.api_headers = {"Authorization": f"Bearer {token}"} if token else {}
            return client

        yield make


@pytest.fixture
def http(make_http: AppFactory) -> DashboardClient:
    return make_http()
