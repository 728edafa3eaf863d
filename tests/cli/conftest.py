"""Fixtures for the CLI tests."""

from __future__ import annotations

import pytest
from cli_support import FakeApi

CLI_ENV = ("DURABLE_BASE_URL", "DURABLE_HEADERS", "DURABLE_API_TOKEN", "DURABLE_WORKFLOWS")


@pytest.fixture(autouse=True)
def _clean_cli_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*CLI_ENV, "DURABLE_DEBUG"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def api() -> FakeApi:
    return FakeApi()
