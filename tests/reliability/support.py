"""What the reliability tests and the soak share: worker processes and a real API server.

Kept apart from tests/worker and tests/api so this package imports nothing from another test
package's modules (their fixtures stay theirs).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from durable.api import create_app
from durable.settings import Settings
from tests.helpers import free_port, wait_until

with warnings.catch_warnings():
    # Starlette warns on import when its TestClient runs on httpx; the project depends on httpx.
    warnings.filterwarnings("ignore", "Using `httpx`", UserWarning)
    from starlette.testclient import TestClient

__all__ = ["TestClient"]

ROOT = Path(__file__).resolve().parents[2]
FLOWS = "tests.reliability.flows:workflows"
MOUNT = "/api/workflows"


class Workers:
    """Real worker processes running the reliability flows (or another registry)."""

    def __init__(
        self, redis_url: str, prefix: str, workflows: str = FLOWS, log_dir: str | None = None
    ) -> None:
        self.redis_url = redis_url
        self.prefix = prefix
        self.workflows = workflows
        # each worker logs to a file of its own; stop() prints their ends (pytest shows them
        # when the test failed)
        self.own_logs = log_dir is None  # removed by stop()
        self.log_dir = log_dir or tempfile.mkdtemp(prefix="durable-workers-")
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, lease_ttl: str = "2 s", concurrency: int = 50) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "REDIS_URL": self.redis_url,
            "DURABLE_PREFIX": self.prefix,
            "DURABLE_SHUTDOWN_GRACE": "5 s",
            "PYTHONPATH": str(ROOT),
        }
        code = (
            "import durable.worker as worker; "
            f"worker.run_worker({self.workflows!r}, lease_ttl={lease_ttl!r}, "
            f"concurrency={concurrency})"
        )
        with (Path(self.log_dir) / f"worker-{len(self.procs)}.log").open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-c", code], env=env, cwd=ROOT, stdout=log, stderr=log
            )
        self.procs.append(proc)
        return proc

    @property
    def live(self) -> list[subprocess.Popen[bytes]]:
        return [p for p in self.procs if p.poll() is None]

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    def stop(self) -> None:
        for n, proc in enumerate(self.procs):
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)
            log = Path(self.log_dir) / f"worker-{n}.log"
            if log.exists():  # not after a stop() before
                lines = log.read_text(errors="replace").splitlines()
                print(f"-- worker {n} (pid {proc.pid}), exit {proc.returncode}, last lines:")
                print("\n".join(lines[-40:]))
        if self.own_logs:
            shutil.rmtree(self.log_dir, ignore_errors=True)


def healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}{MOUNT}/health", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


@contextmanager
def api_server(settings: Settings, workflows: Any, **config: Any) -> Iterator[str]:
    """A real uvicorn server in a thread on a free port; yields its base URL."""
    port = free_port()
    app = create_app(settings, workflows=workflows)
    options: dict[str, Any] = {"log_level": "critical", "lifespan": "on", **config}
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, **options))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: server.started, timeout=20)
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=15)
