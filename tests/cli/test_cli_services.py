"""`durable worker` and `durable api` hand their options to the service functions."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from durable.cli.main import cli
from durable.errors import ConfigurationError

ROOT = Path(__file__).resolve().parents[2]
FLOWS = "tests.cli.flows:workflows"


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, tuple[Any, ...], dict[str, Any]]]:
    """Replace `worker.run_worker` and `api.serve` with recorders."""
    recorded: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def recorder(name: str) -> Any:
        def record(*args: Any, **kwargs: Any) -> None:
            recorded.append((name, args, kwargs))

        return record

    for module, attr in (("durable.worker", "run_worker"), ("durable.api", "serve")):
        fake = types.ModuleType(module)
        setattr(fake, attr, recorder(attr))
        monkeypatch.setitem(sys.modules, module, fake)
    return recorded


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, prog_name="durable")


def test_worker_passes_options(calls: list[Any]) -> None:
    result = run(
        "worker", "--workflows", "examples.gallery:workflows", "--redis-url", "redis://r:1/2",
        "--concurrency", "8", "--burst", "--lease-ttl", "3 s", "--metrics-port", "9100",
        "--metrics-host", "0.0.0.0",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    kwargs: dict[str, Any] = {"redis_url": "redis://r:1/2", "concurrency": 8, "burst": True}
    kwargs |= {"lease_ttl": "3 s", "metrics_port": 9100, "metrics_host": "0.0.0.0"}
    assert calls == [("run_worker", ("examples.gallery:workflows",), kwargs)]


def test_worker_defaults_and_workflows_from_env(calls: list[Any]) -> None:
    result = run("worker", env={"DURABLE_WORKFLOWS": FLOWS})
    assert result.exit_code == 0, result.output
    kwargs: dict[str, Any] = {"redis_url": None, "concurrency": None, "burst": False}
    kwargs |= {"lease_ttl": None, "metrics_port": None, "metrics_host": "127.0.0.1"}
    assert calls == [("run_worker", (FLOWS,), kwargs)]


def test_worker_needs_workflows(calls: list[Any]) -> None:
    result = run("worker")
    assert result.exit_code == 2
    assert "Missing option '--workflows'" in result.stderr and calls == []


def test_worker_rejects_bad_lease_ttl(calls: list[Any]) -> None:
    result = run("worker", "--workflows", "a:b", "--lease-ttl", "forever")
    assert result.exit_code == 2
    assert "invalid duration 'forever'" in result.stderr and calls == []


def test_configuration_errors_are_usage_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(workflows: str, **kwargs: Any) -> None:
        raise ConfigurationError("lease TTL must be at least 500 ms")

    fake = types.ModuleType("durable.worker")
    fake.run_worker = broken  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "durable.worker", fake)
    result = run("worker", "--workflows", FLOWS)
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: lease TTL must be at least 500 ms (see 'durable worker --help')\n"
    )


def test_a_missing_workflows_module_is_a_usage_error(calls: list[Any]) -> None:
    result = run("worker", "--workflows", "nope_no_such_module:flows")
    assert result.exit_code == 2 and calls == []
    assert result.stderr == (
        "Error: cannot import workflows module 'nope_no_such_module': "
        "No module named 'nope_no_such_module' (see 'durable worker --help')\n"
    )


def test_unexpected_errors_are_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(workflows: str, **kwargs: Any) -> None:
        raise RuntimeError("kaboom")

    fake = types.ModuleType("durable.worker")
    fake.run_worker = broken  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "durable.worker", fake)
    result = run("worker", "--workflows", FLOWS)
    assert result.exit_code == 1
    assert result.stderr == "Error: unexpected RuntimeError: kaboom\n"


def test_api_passes_options(calls: list[Any]) -> None:
    result = run("api", "--workflows", FLOWS, "--host", "0.0.0.0", "--port", "9001")
    assert result.exit_code == 0, result.output
    assert calls == [("serve", (FLOWS,), {"host": "0.0.0.0", "port": 9001, "settings": None})]


def test_api_redis_url_becomes_settings(calls: list[Any]) -> None:
    result = run("api", "--workflows", FLOWS, "--redis-url", "redis://elsewhere:6380/1")
    assert result.exit_code == 0, result.output
    (_, _, kwargs) = calls[0]
    assert kwargs["host"] == "127.0.0.1" and kwargs["port"] == 8000
    assert kwargs["settings"].redis_url == "redis://elsewhere:6380/1"


def test_api_rejects_bad_port(calls: list[Any]) -> None:
    assert run("api", "--workflows", "a:b", "--port", "70000").exit_code == 2


def test_python_dash_m_entry_point() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "durable.cli.main", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert out.returncode == 0 and "instances" in out.stdout


def test_service_exits_when_its_dev_parent_is_gone() -> None:
    # The parent pid below is never ours, so the watchdog must SIGTERM the process at once.
    code = (
        "import time; from durable.cli.services import exit_with_parent; "
        "exit_with_parent(); time.sleep(20)"  # holds on until the watchdog stops it
    )
    env = {**os.environ, "DURABLE_DEV_PARENT_PID": str(2**22 + 7)}
    proc = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, timeout=15)
    assert proc.returncode == -signal.SIGTERM


def test_services_import_workflows_from_the_working_directory(
    calls: list[Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "cwd_only_flows.py").write_text("workflows = []\n")
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    monkeypatch.delitem(sys.modules, "cwd_only_flows", raising=False)
    monkeypatch.chdir(tmp_path)
    result = run("worker", "--workflows", "cwd_only_flows:workflows")
    assert result.exit_code == 0, result.output
    assert sys.path[0] == str(tmp_path)
    sys.modules.pop("cwd_only_flows", None)


def test_dev_rejects_a_bad_registry_before_starting_anything() -> None:
    result = run("dev", "--workflows", "no_such_module_here:flows")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: cannot import workflows module 'no_such_module_here'")
