"""Services started without a usable Redis: one clear line and exit 1 (worker, dev), or serving
503s with the same line in the log (api); a Redis that comes up a moment later is waited for."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest

from tests.cli.cli_support import (
    FLOWS,
    durable_script,
    eventually,
    service_env,
    stop,
)
from tests.helpers import PrivateRedis, free_port

pytestmark = pytest.mark.timeout(90)

STARTUP = "1500 ms"
PASSWORD = ("--requirepass", "right-password")


def run(*args: str, redis_url: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    script = durable_script()
    assert script is not None
    env = service_env(REDIS_URL=redis_url, DURABLE_STARTUP_TIMEOUT=STARTUP)
    return subprocess.run([script, *args], capture_output=True, text=True, timeout=timeout, env=env)


def assert_one_clear_line(out: subprocess.CompletedProcess[str], masked: str, cause: str) -> None:
    assert out.returncode == 1, out.stdout + out.stderr
    assert out.stdout == ""
    (line,) = out.stderr.splitlines()
    assert line.startswith(f"Error: cannot reach Redis at {masked}: {cause}"), line
    assert "Traceback" not in out.stderr


def command(name: str) -> list[str]:
    return {
        "worker": ["worker", "--workflows", FLOWS],
        "burst worker": ["worker", "--burst", "--workflows", FLOWS],
        "dev": ["dev", "--workflows", FLOWS, "--port", str(free_port())],
    }[name]


@pytest.mark.parametrize("name", ["worker", "burst worker", "dev"])
def test_closed_port(name: str) -> None:
    port = free_port()
    out = run(*command(name), redis_url=f"redis://:s3cret@127.0.0.1:{port}/0")
    assert_one_clear_line(out, f"redis://:****@127.0.0.1:{port}/0", "connection refused")
    assert "s3cret" not in out.stderr
    assert f"(gave up after {1.5:g} s)" in out.stderr


@pytest.mark.parametrize("private_redis", [PASSWORD], indirect=True)
@pytest.mark.parametrize("name", ["worker", "dev"])
def test_wrong_password(name: str, private_redis: PrivateRedis) -> None:
    url = f"redis://:wrong-password@127.0.0.1:{private_redis.port}/0"
    out = run(*command(name), redis_url=url)
    assert_one_clear_line(
        out, f"redis://:****@127.0.0.1:{private_redis.port}/0", "authentication failed"
    )
    assert "wrong-password" not in out.stderr


@pytest.mark.parametrize("name", ["burst worker", "dev"])
def test_unknown_host(name: str) -> None:
    out = run(*command(name), redis_url="redis://no-such-host.invalid:6379")
    assert_one_clear_line(out, "redis://no-such-host.invalid:6379", "unknown host")


def test_json_format_makes_the_line_json() -> None:
    import json

    port = free_port()
    out = run("worker", "--workflows", FLOWS, "--log-format", "json",
              redis_url=f"redis://127.0.0.1:{port}/0")  # fmt: skip
    assert out.returncode == 1
    (line,) = out.stderr.splitlines()
    entry = json.loads(line)
    assert entry["level"] == "error"
    assert entry["message"].startswith(
        f"cannot reach Redis at redis://127.0.0.1:{port}/0: connection refused"
    )


def test_the_worker_waits_for_a_redis_that_comes_up_within_the_timeout(tmp_path: Path) -> None:
    script = durable_script()
    assert script is not None
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    env = service_env(REDIS_URL=url, DURABLE_STARTUP_TIMEOUT="60 s")
    err_path = tmp_path / "worker.err"
    with err_path.open("w") as err:
        proc = subprocess.Popen(
            [script, "worker", "--burst", "--workflows", FLOWS, "--log-level", "debug"],
            env=env, stdout=subprocess.DEVNULL, stderr=err,
        )  # fmt: skip
    server = None
    try:
        # Only once the worker has been refused does Redis start.
        eventually(lambda: f"waiting for Redis at {url}" in err_path.read_text(), timeout=30)
        assert proc.poll() is None
        server = PrivateRedis(port=port)
        server.start()
        assert proc.wait(timeout=60) == 0, err_path.read_text()
    finally:
        stop(proc)
        if server is not None:
            server.close()
    text = err_path.read_text()
    assert "durable worker ready" in text and "Traceback" not in text


def test_api_keeps_serving_503_and_says_why(tmp_path: Path) -> None:
    script = durable_script()
    assert script is not None
    redis_port, port = free_port(), free_port()
    env = service_env(REDIS_URL=f"redis://:s3cret@127.0.0.1:{redis_port}/0")
    err_path = tmp_path / "api.err"
    with err_path.open("w") as err:
        proc = subprocess.Popen(
            [script, "api", "--workflows", FLOWS, "--port", str(port)],
            env=env, stdout=err, stderr=subprocess.STDOUT,
        )  # fmt: skip
    health = f"http://127.0.0.1:{port}/api/workflows/health"
    try:
        eventually(lambda: _status(health) == 503, timeout=30)
        assert _status(health) == 503 and proc.poll() is None
    finally:
        stop(proc)
    text = err_path.read_text()
    reports = [line for line in text.splitlines() if "cannot reach Redis" in line]
    assert reports, text
    masked = f"redis://:****@127.0.0.1:{redis_port}/0"
    # At most one report per 30 s: the start-up probe and the health checks share it.
    assert len(reports) == 1 and f"at {masked}: connection refused" in reports[0]
    assert "s3cret" not in text and "StoreUnavailableError" not in text
    assert "Traceback" not in text


def _status(url: str) -> int | None:
    try:
        return httpx.get(url, timeout=2).status_code
    except httpx.TransportError:
        return None
