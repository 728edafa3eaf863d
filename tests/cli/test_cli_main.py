"""The entry point: errors outside and inside click stay one line; DURABLE_DEBUG shows them."""

from __future__ import annotations

import sys
import types
from typing import Any

import pytest
from click.testing import CliRunner

import durable.cli.main
from durable.cli.main import main


def test_main_reports_unexpected_errors_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def explode(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(durable.cli.main.cli, "main", explode)
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 1
    assert capsys.readouterr().err == "Error: unexpected OSError: disk on fire\n"


def test_durable_debug_lets_the_traceback_through(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = types.ModuleType("durable.worker")

    def run_worker(workflows: str, **kwargs: Any) -> None:
        raise RuntimeError("kaboom")

    fake.run_worker = run_worker  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "durable.worker", fake)
    result = CliRunner().invoke(
        durable.cli.main.cli,
        ["worker", "--workflows", "tests.cli.flows:workflows"],
        env={"DURABLE_DEBUG": "1"},
    )
    assert isinstance(result.exception, RuntimeError)


def test_main_lets_the_traceback_through_with_durable_debug(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def explode(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(durable.cli.main.cli, "main", explode)
    monkeypatch.setenv("DURABLE_DEBUG", "1")
    with pytest.raises(OSError, match="disk on fire"):
        main()


def test_version() -> None:
    result = CliRunner().invoke(durable.cli.main.cli, ["--version"], prog_name="durable")
    assert result.exit_code == 0 and result.stdout.startswith("durable, version ")
