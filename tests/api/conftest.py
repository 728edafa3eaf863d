"""Fixtures for the API tests: an app per test over a real Redis, reached through TestClient.

Isolation comes from the shared `settings` fixture (tests/conftest.py): a key prefix per test,
deleted afterwards; no database is ever flushed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import replace
from typing import Any

import pytest
from starlette.testclient import TestClient

from durable.api import create_app
from durable.settings import Settings
from tests.api.api_support import MOUNT, AppFactory, workflows


@pytest.fixture
def api_settings(settings: Settings) -> Settings:
    """The shared per-test `settings` (own key prefix, cleaned up) with the runner tick on."""
    return replace(settings, enable_runner_tick=True, mount_path=MOUNT, api_token=None)


@pytest.fixture
def make_client(api_settings: Settings) -> Iterator[AppFactory]:
    """Build an app with setting overrides (and create_app keywords) and open a TestClient."""
    with ExitStack() as stack:

        def make(
            *, raise_server_exceptions: bool = True, authorize: Any = None, **overrides: Any
        ) -> TestClient:
            settings = replace(api_settings, **overrides)
            app = create_app(settings, workflows=workflows, authorize=authorize)
            client = TestClient(app, raise_server_exceptions=raise_server_exceptions)
            return stack.enter_context(client)

        yield make


@pytest.fixture
def http(make_client: AppFactory) -> TestClient:
    return make_client()
