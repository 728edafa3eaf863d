"""`durable dev`: the product in one command, on REDIS_URL, a private redis-server or an
embedded fakeredis."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import redis
from click.testing import CliRunner

from durable.cli import dev_redis
from durable.cli.dev import banner, child_commands, durable_command, public_host
from durable.cli.main import cli
from tests.cli.cli_support import (
    FLOWS,
    api_is_up,
    durable,
    durable_script,
    eventually,
    service_env,
    stop,
)
from tests.helpers import free_port


def test_child_commands_and_banner() -> None:
    commands = child_commands("examples.gallery:workflows", "127.0.0.1", 8123, 2)
    assert list(commands) == ["worker 1", "worker 2", "api"]
    assert commands["api"][1:] == [
        "-m", "durable.cli.main", "api", "--workflows", "examples.gallery:workflows",
        "--host", "127.0.0.1", "--port", "8123",
    ]  # fmt: skip
    assert commands["worker 2"][3:] == ["worker", "--workflows", "examples.gallery:workflows"]
    assert public_host("0.0.0.0") == "127.0.0.1" and public_host("::1") == "[::1]"
    text = banner("http://127.0.0.1:8123/api/workflows", 2, "redis://127.0.0.1:1/0", "x", "dur")
    assert "Try:  dur -b http://127.0.0.1:8123/api/workflows workflows list" in text
    assert "Redis redis://127.0.0.1:1/0 (x)" in text and "Dashboard" not in text
    url = "http://127.0.0.1:8123/dashboard"
    assert f"Dashboard: {url}" in banner("http://a/b", 1, "redis://r", "x", "d", url)


def test_banner_command_works_as_typed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("durable")
    if not script.exists():
        pytest.skip("needs the installed console script")  # pragma: no cover
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.chdir(script.parents[2])  # the folder holding the venv
    assert durable_command() == os.path.join(script.parent.parent.name, "bin", "durable")
    monkeypatch.chdir(tmp_path)
    assert durable_command() == str(script)
    monkeypatch.setenv("PATH", str(script.parent))
    assert durable_command() == "durable"


def test_dev_picks_redis_server_from_the_path(monkeypatch: pytest.MonkeyPatch) -> None:
    binary = shutil.which("redis-server")
    assert binary is not None, "this test needs redis-server on the PATH"
    chosen = dev_redis.choose({"PATH": str(Path(binary).parent)}, 1000)
    try:
        assert isinstance(chosen, dev_redis.RedisServer)
        assert chosen.description.startswith("redis-server ") and binary in chosen.description
        conn = redis.Redis.from_url(chosen.url)
        assert conn.ping()
        conn.close()
        folder = Path(chosen._dir)
        assert folder.is_dir()
    finally:
        chosen.stop()
    assert not chosen.running and not folder.exists()


def test_dev_falls_back_to_embedded_without_redis_server(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    class Embedded:
        url = "redis://127.0.0.1:1/0"
        description = "embedded fakeredis; data is lost on exit"

        def stop(self) -> None:
            pass

    monkeypatch.setattr("durable.cli.embedded_redis.EmbeddedRedis", Embedded)
    chosen = dev_redis.choose({"PATH": str(tmp_path)}, 1000)
    assert isinstance(chosen, Embedded)


def test_dev_without_any_redis_says_how_to_get_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setitem(sys.modules, "fakeredis", None)  # as if the `dev` extra were missing
    result = CliRunner().invoke(cli, ["dev", "--workflows", FLOWS], prog_name="durable")
    assert result.exit_code == 1
    assert result.stderr == f"Error: {dev_redis.NO_REDIS}\n"
    assert "pip install 'durable[dev]'" in result.stderr and "REDIS_URL" in result.stderr


def start_dev(tmp_path: Path, port: int, **env_changes: Any) -> tuple[subprocess.Popen[Any], Path]:
    script = durable_script()
    assert script is not None
    env = service_env()
    env.pop("REDIS_URL", None)
    env.update(env_changes)
    out_path = tmp_path / "dev.out"
    with out_path.open("w") as out:
        proc = subprocess.Popen(
            [script, "dev", "--workflows", FLOWS, "--port", str(port)],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    return proc, out_path


def test_durable_dev_on_a_private_redis_server_logging_json(tmp_path: Path) -> None:
    binary = shutil.which("redis-server")
    assert binary is not None, "this test needs redis-server on the PATH"
    port = free_port()
    path = str(Path(binary).parent)
    proc, out_path = start_dev(tmp_path, port, PATH=path, DURABLE_LOG_FORMAT="json")
    try:
        eventually(lambda: "Try:" in out_path.read_text() or proc.poll() is not None, timeout=40)
        text = out_path.read_text()
        found = re.search(r"Redis (redis://127\.0\.0\.1:\d+/0) \(redis-server ", text)
        assert found, text
        conn = redis.Redis.from_url(found.group(1))
        assert conn.ping()
    finally:
        code = stop(proc, timeout=30)
    assert code == 0, out_path.read_text()
    with pytest.raises(redis.ConnectionError):  # stopped with dev
        conn.ping()
    conn.close()
    # dev, its worker and its API (uvicorn included) all wrote JSON lines.
    entries = [json.loads(line) for line in out_path.read_text().splitlines()]
    loggers = {entry["logger"] for entry in entries}
    assert {"durable.dev", "durable.worker", "uvicorn.error"} <= loggers, loggers


def test_durable_dev_runs_the_product_on_embedded_redis(tmp_path: Path) -> None:
    port = free_port()
    proc, out_path = start_dev(tmp_path, port, PATH=str(tmp_path))  # no redis-server there
    try:
        eventually(lambda: "Try:" in out_path.read_text() or proc.poll() is not None, timeout=40)
        text = out_path.read_text()
        base = f"http://127.0.0.1:{port}/api/workflows"
        assert re.search(rf"Try:  \S*durable -b {re.escape(base)} workflows list", text), text
        assert "embedded fakeredis" in text

        created = durable("-b", base, "--json", "instances", "create", "-w", "cli-approval")
        assert created.returncode == 0, created.stderr + out_path.read_text()
        iid = json.loads(created.stdout)["id"]
        sent = durable("-b", base, "instances", "send-event", "-w", "cli-approval", "-i", iid,
                       "-t", "approval", "--payload", '{"approved":true}')  # fmt: skip
        assert sent.returncode == 0, sent.stderr
        watch = durable("-b", base, "instances", "watch", "-w", "cli-approval", "-i", iid,
                        "--interval", "50")  # fmt: skip
        assert watch.returncode == 0, watch.stdout + watch.stderr + out_path.read_text()
    finally:
        code = stop(proc, timeout=30)
    assert code == 0, out_path.read_text()
    assert not api_is_up(f"http://127.0.0.1:{port}/api/workflows")
