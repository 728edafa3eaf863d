"""The installed distribution beside a project that has its own `worker.py`, `api/` and `cli.py`.

durable claims one import name; its services are `durable.worker`, `durable.api` and
`durable.cli`. These tests run the real console scripts (`durable`, `arq`, `uvicorn` from the
virtualenv) from a project folder whose own modules carry the names the services once had, and
check that the distribution installs no other top-level name.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import setuptools

from tests.cli.cli_support import api_is_up, stop
from tests.conftest import REDIS_URL
from tests.helpers import free_port, wait_until

pytestmark = pytest.mark.timeout(90)

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SERVICES = ("worker", "api", "cli")
WORKER_MARKER = "worker.imported"

# A project of the kind a user writes: its own arq worker settings, its own api package and cli
# module (used by its workflows), and a workflow registry.
PROJECT = {
    "worker.py": f'''
"""The project's own arq worker, for its own jobs. durable must never import this file."""
from pathlib import Path

Path(__file__).with_name("{WORKER_MARKER}").touch()


async def send_newsletter(ctx):
    return "sent"


class WorkerSettings:
    functions = [send_newsletter]
    queue_name = "project:newsletters"
''',
    "api/__init__.py": '''
"""The project's own api package."""


def greeting(name):
    return f"hello, {name}"
''',
    "cli.py": '''
"""The project's own command-line helpers."""


def shout(text):
    return text.upper() + "!"
''',
    "flows.py": """
from api import greeting
from cli import shout

from durable import workflow


@workflow("hello")
async def hello(event, step):
    text = await step.do("greet", lambda: shout(greeting(event.payload["name"])))
    await step.sleep("breathe", "10 ms")
    return {"text": text}


workflows = {"hello": hello}
""",
}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    for name, text in PROJECT.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.lstrip())
    return root


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a user's shell: no PYTHONPATH pointing at this checkout, no DURABLE_*."""
    env = {
        k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("DURABLE_")
    }
    env.update(extra)
    return env


@contextmanager
def services(
    commands: dict[str, list[str]], cwd: Path, env: dict[str, str], logs: Path
) -> Iterator[dict[str, subprocess.Popen[Any]]]:
    logs.mkdir(exist_ok=True)
    procs: dict[str, subprocess.Popen[Any]] = {}
    try:
        for name, command in commands.items():
            out = (logs / f"{name}.log").open("w")
            procs[name] = subprocess.Popen(
                command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT
            )
            out.close()
        yield procs
    finally:
        for proc in procs.values():
            stop(proc)


def service_logs(logs: Path) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text()}" for p in sorted(logs.glob("*.log")))


def run_hello(base_url: str, procs: dict[str, subprocess.Popen[Any]], logs: Path) -> None:
    """Create an instance over HTTP and see it complete; fail with the services' output."""

    def up() -> bool:
        dead = [name for name, proc in procs.items() if proc.poll() is not None]
        assert not dead, f"{dead} exited early\n{service_logs(logs)}"
        return api_is_up(base_url)

    wait_until(up, timeout=30, interval=0.05)
    assert httpx.get(base_url).json() == {"workflows": [{"name": "hello"}]}
    body = {"id": "i1", "params": {"name": "ada"}}
    created = httpx.post(f"{base_url}/hello/instances", json=body)
    assert created.status_code == 201, created.text

    def finished() -> dict[str, Any] | None:
        reply: dict[str, Any] = httpx.get(f"{base_url}/hello/instances/i1").json()
        return reply if reply["details"]["status"] in ("complete", "errored") else None

    try:
        got = wait_until(finished, timeout=30, interval=0.05)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{service_logs(logs)}") from None
    output = {"text": "HELLO, ADA!"}
    assert got["details"] == {"status": "complete", "runNumber": 0, "output": output}


def test_durable_api_and_worker_serve_a_project_with_its_own_worker_api_and_cli(
    project: Path, prefix: str, tmp_path: Path
) -> None:
    port = free_port()
    durable = str(BIN / "durable")
    commands = {
        "api": [durable, "api", "--workflows", "flows:workflows", "--port", str(port)],
        "worker": [durable, "worker", "--workflows", "flows:workflows"],
    }
    env = clean_env(REDIS_URL=REDIS_URL, DURABLE_PREFIX=prefix)
    logs = tmp_path / "logs"
    with services(commands, project, env, logs) as procs:
        run_hello(f"http://127.0.0.1:{port}/api/workflows", procs, logs)
    assert not (project / WORKER_MARKER).exists(), "durable imported the project's worker.py"


def test_arq_and_uvicorn_forms_serve_a_project_with_its_own_worker_api_and_cli(
    project: Path, prefix: str, tmp_path: Path
) -> None:
    port = free_port()
    commands = {
        "arq": [str(BIN / "arq"), "durable.worker.WorkerSettings"],
        "uvicorn": [
            str(BIN / "uvicorn"), "--factory", "durable.api.app:app", "--port", str(port),
        ],
    }  # fmt: skip
    env = clean_env(REDIS_URL=REDIS_URL, DURABLE_PREFIX=prefix, DURABLE_WORKFLOWS="flows:workflows")
    logs = tmp_path / "logs"
    with services(commands, project, env, logs) as procs:
        run_hello(f"http://127.0.0.1:{port}/api/workflows", procs, logs)
    assert not (project / WORKER_MARKER).exists(), "durable imported the project's worker.py"


def run_python(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=clean_env(), capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip


@pytest.mark.parametrize("name", SERVICES)
def test_the_distribution_installs_no_top_level_service_module(name: str, tmp_path: Path) -> None:
    code = f"""
try:
    import {name}
except ModuleNotFoundError as exc:
    print("missing", exc.name)
else:
    print("found", {name}.__file__)
"""
    out = run_python(code, tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["missing", name]


def test_the_services_import_as_durable_subpackages_and_durable_alone_loads_none(
    tmp_path: Path,
) -> None:
    code = """
import sys
import durable
loaded = {m.split(".")[1] for m in sys.modules if m.startswith("durable.")}
print(sorted(loaded & {"worker", "api", "cli"}))
import durable.worker, durable.api, durable.cli
print(durable.worker.WorkerSettings.__module__, durable.api.create_app.__module__)
"""
    out = run_python(code, tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["[]", "durable.worker.settings durable.api.app"]


def test_the_installed_distribution_claims_only_the_durable_import_name(tmp_path: Path) -> None:
    code = """
import json
from importlib import metadata
tops = metadata.packages_distributions()
names = sorted(top for top, dists in tops.items() if "durable" in dists)
dist = metadata.distribution("durable")
scripts = sorted(f"{e.name}={e.value}" for e in dist.entry_points if e.group == "console_scripts")
print(json.dumps({"names": names, "top_level": dist.read_text("top_level.txt").split(),
                  "scripts": scripts}))
"""
    out = run_python(code, tmp_path)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {
        "names": ["durable"],
        "top_level": ["durable"],
        "scripts": ["durable=durable.cli.main:main"],
    }


def test_the_build_configuration_packages_only_durable_and_its_subpackages() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    include = config["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = setuptools.find_packages(where=str(ROOT), include=include)
    assert {p.split(".")[0] for p in packages} == {"durable"}
    assert {f"durable.{name}" for name in SERVICES} <= set(packages)
    assert not [name for name in SERVICES if (ROOT / name).exists()]
