"""A private, throw-away redis-server on a free loopback port (never the shared one)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from redis import Redis


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """`with RedisServer() as server:` runs redis-server without persistence in a temp dir."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="durable-bench-"))
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> RedisServer:
        binary = shutil.which("redis-server")
        if binary is None:
            raise SystemExit("the benchmark needs a redis-server binary on PATH")
        args = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        args += ["--appendonly", "no", "--dir", str(self.dir), "--logfile", "redis.log"]
        self._proc = subprocess.Popen(args, cwd=self.dir)
        self._wait_ready()
        return self

    def _wait_ready(self, timeout_s: float = 10.0) -> None:
        deadline = time.monotonic() + timeout_s
        with Redis.from_url(self.url) as probe:
            while True:
                try:
                    probe.ping()
                    return
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.02)
                except Exception as exc:  # redis-py wraps refused connections
                    if time.monotonic() > deadline:
                        raise SystemExit(f"redis-server did not start: {exc}") from exc
                    time.sleep(0.02)

    @property
    def pid(self) -> int:
        return self._proc.pid if self._proc else 0

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
