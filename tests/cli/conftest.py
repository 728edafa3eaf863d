"""Fixtures for the CLI tests."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from durable import logs
from tests.cli.cli_support import FakeApi

CLI_ENV = ("DURABLE_BASE_URL", "DURABLE_HEADERS", "DURABLE_API_TOKEN", "DURABLE_WORKFLOWS")
SERVICE_ENV = ("DURABLE_LOG_LEVEL", "DURABLE_LOG_FORMAT", "DURABLE_STARTUP_TIMEOUT")


@pytest.fixture(autouse=True)
def _clean_cli_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*CLI_ENV, *SERVICE_ENV, "DURABLE_DEBUG"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def _restore_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Service commands run in-process set up the root logger; undo that after each test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    quiet = {name: logging.getLogger(name).level for name in logs.QUIET_AT_INFO}
    monkeypatch.setattr(logs, "_format", logs.configured_format())
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, value in quiet.items():
        logging.getLogger(name).setLevel(value)
    logging.captureWarnings(False)


@pytest.fixture
def api() -> FakeApi:
    return FakeApi()
