"""What the reliability tests and the soak share: a private Redis, worker processes, a server.

Kept apart from tests/worker and tests/api so this package imports nothing from another test
package's modules (their fixtures stay theirs).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from durable.api import create_app
from durable.settings import Settings
from tests.helpers import wait_until

with warnings.catch_warnings():
    # Starlette warns on import when its TestClient runs on httpx; the project depends on httpx.
    warnings.filterwarnings("ignore", "Using `httpx`", UserWarning)
    from starlette.testclient import TestClient

__all__ = ["TestClient"]

ROOT = Path(__file__).resolve().parents[2]
FLOWS = "tests.reliability.flows:workflows"
MOUNT = "/api/workflows"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PrivateRedis:
    """A redis-server of our own (AOF, fsync always) in a temp dir, restartable on its port."""

    def __init__(self) -> None:
        if shutil.which("redis-server") is None:
            raise RuntimeError("redis-server is not on the PATH")
        self.dir = tempfile.mkdtemp(prefix="durable-rel-")
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        args += ["--appendonly", "yes", "--appendfsync", "always", "--dir", self.dir]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL)
        wait_until(self._answers, timeout=20, interval=0.05)

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None:
            self.proc.send_signal(sig)
            self.proc.wait(20)
            self.proc = None

    def freeze(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def close(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGCONT)
        self.stop(signal.SIGKILL)
        shutil.rmtree(self.dir, ignore_errors=True)


class Workers:
    """Real worker processes running the reliability flows (or another registry)."""

    def __init__(
        self, redis_url: str, prefix: str, workflows: str = FLOWS, log_dir: str | None = None
    ) -> None:
        self.redis_url = redis_url
        self.prefix = prefix
        self.workflows = workflows
        self.log_dir = log_dir
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
        log: Any = subprocess.DEVNULL
        if self.log_dir is not None:
            log = open(Path(self.log_dir) / f"worker-{len(self.procs)}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-c", code], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
        )
        if log is not subprocess.DEVNULL:
            log.close()  # the child holds its own descriptor
        self.procs.append(proc)
        return proc

    @property
    def live(self) -> list[subprocess.Popen[bytes]]:
        return [p for p in self.procs if p.poll() is None]

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)


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


def elapsed(since: float) -> float:
    return time.monotonic() - since
