"""The API behind a real uvicorn server: streaming limits, the factory, and `api.serve`."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from durable.api import create_app
from durable.settings import Settings
from tests.api.api_support import MOUNT, workflows
from tests.helpers import free_port, wait_until

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


def healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}{MOUNT}/health", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture
def server(api_settings: Settings) -> Iterator[str]:
    """A uvicorn.Server in a thread on a free port; yields its base URL."""
    port = free_port()
    app = create_app(api_settings, workflows=workflows)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: healthy(base))
    yield base
    instance.should_exit = True
    thread.join(timeout=10)


def test_create_and_get_over_real_http(server: str) -> None:
    created = httpx.post(f"{server}{MOUNT}/plain/instances", json={"id": "real"})
    assert created.status_code == 201
    fetched = httpx.get(f"{server}{MOUNT}/plain/instances/real")
    assert fetched.json()["details"]["status"] == "queued"


def test_chunked_body_without_content_length_is_cut_off_at_the_limit(server: str) -> None:
    sent = 0

    def chunks() -> Iterator[bytes]:
        nonlocal sent
        yield b'{"params": "'
        for _ in range(64):  # 4 MiB on offer; the server must stop well before the end
            sent += 65_536
            yield b"x" * 65_536
        yield b'"}'

    try:
        response = httpx.post(f"{server}{MOUNT}/plain/instances", content=chunks(), timeout=10)
    except httpx.TransportError:
        pytest.fail("the server should answer 413, not drop the connection")
    assert response.status_code == 413
    assert response.json()["code"] == "PAYLOAD_TOO_LARGE"
    assert "content-length" not in response.request.headers


def test_declared_content_length_over_the_limit_is_refused_early(server: str) -> None:
    body = b'{"params": "' + b"x" * (1024 * 1024) + b'"}'
    response = httpx.post(
        f"{server}{MOUNT}/plain/instances",
        content=body,
        headers={"content-type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 413
    assert response.json()["code"] == "PAYLOAD_TOO_LARGE"


def spawn(args: list[str], settings: Settings, **env: str) -> subprocess.Popen[bytes]:
    full_env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "REDIS_URL": settings.redis_url,
        "DURABLE_PREFIX": settings.prefix,
        "DURABLE_WORKFLOWS": "tests.api.api_support:workflows",
        **env,
    }
    full_env.pop("DURABLE_API_TOKEN", None)
    full_env.pop("DURABLE_MOUNT_PATH", None)
    return subprocess.Popen(
        [sys.executable, *args],
        cwd=ROOT,
        env=full_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def test_uvicorn_factory_runs_from_the_environment(api_settings: Settings) -> None:
    port = free_port()
    args = ["-m", "uvicorn", "--factory", "durable.api.app:app", "--port", str(port)]
    process = spawn(args, api_settings, DURABLE_ENABLE_RUNNER_TICK="1")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: healthy(base) or process.poll() is not None, timeout=20)
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        listed = httpx.get(f"{base}{MOUNT}").json()["workflows"]
        assert {"name": "greet"} in listed
        assert httpx.post(f"{base}{MOUNT}/_runner/tick").json() == {"processed": 0}
    finally:
        stop(process)


def test_serve_runs_the_named_registry(api_settings: Settings) -> None:
    port = free_port()
    code = f"import durable.api as api; api.serve('tests.api.api_support:workflows', port={port})"
    process = spawn(["-c", code], api_settings, DURABLE_WORKFLOWS="")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: healthy(base) or process.poll() is not None, timeout=20)
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        assert httpx.get(f"{base}{MOUNT}/plain/instances").status_code == 200
    finally:
        stop(process)
    # uvicorn re-raises SIGTERM after a graceful shutdown, so look for the shutdown itself.
    assert process.stderr is not None
    assert "Application shutdown complete" in process.stderr.read().decode()
