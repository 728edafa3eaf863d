"""Fixtures of the metrics and tracing tests: an API app over the test's own key prefix."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import replace
from typing import Any

import pytest

from durable.api import create_app
from durable.settings import Settings
from tests.observe.flows import workflows

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "Using `httpx`", UserWarning)
    from starlette.testclient import TestClient

MOUNT = "/api/workflows"
AppFactory = Callable[..., TestClient]


@pytest.fixture
def make_http(settings: Settings) -> Iterator[AppFactory]:
    """An app (settings overridable) behind a TestClient, with the runner tick on."""
    with ExitStack() as stack:

        def make(**overrides: Any) -> TestClient:
            options = {"enable_runner_tick": True, "mount_path": MOUNT, **overrides}
            app = create_app(replace(settings, **options), workflows=workflows)
            return stack.enter_context(TestClient(app))

        yield make


@pytest.fixture
def http(make_http: AppFactory) -> TestClient:
    return make_http()
