"""Which Redis `durable dev` runs on: REDIS_URL if set, else a private `redis-server` from the
PATH, else the embedded fakeredis server (the `dev` extra), else a one-line explanation."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Protocol

from redis import Redis
from redis.exceptions import RedisError

from durable.connectivity import mask_url, wait_for_redis

READY_TIMEOUT_S = 10.0
START_ATTEMPTS = 3
NO_REDIS = (
    "durable dev needs a Redis: set REDIS_URL, put redis-server on the PATH "
    "(apt-get install redis-server, brew install redis), "
    "or install the embedded one with pip install 'durable[dev]'"
)


class DevRedis(Protocol):
    @property
    def url(self) -> str: ...

    @property
    def description(self) -> str: ...

    def stop(self) -> None: ...


class DevRedisError(Exception):
    """No Redis for `durable dev`; the message says what to do."""


class ExternalRedis:
    """The Redis at REDIS_URL: checked at start, never stopped by us."""

    def __init__(self, url: str, startup_timeout_ms: int) -> None:
        wait_for_redis(url, startup_timeout_ms)
        self.url = url
        self.description = "from REDIS_URL"

    def stop(self) -> None:
        pass


class RedisServer:
    """A private `redis-server` on a free loopback port, its files in a temporary directory;
    nothing is saved, and both go away on `stop` (or when this process dies, on Linux)."""

    def __init__(self, binary: str, ready_timeout_s: float = READY_TIMEOUT_S) -> None:
        self.binary = binary
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._dir = tempfile.mkdtemp(prefix="durable-dev-redis-")
        self._log = Path(self._dir, "redis.log")
        command = [
            binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", self._dir, "--logfile", str(self._log),
            "--daemonize", "no",
        ]  # fmt: skip
        # Its own process group: a terminal's Ctrl-C must not stop it before the workers.
        self._proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            process_group=0,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
        try:
            version = self._wait_ready(ready_timeout_s)
        except BaseException:
            self.stop()
            raise
        self.description = (
            f"redis-server {version} from {binary}, started for this session; data is lost on exit"
        )

    def _wait_ready(self, timeout_s: float) -> str:
        deadline = time.monotonic() + timeout_s
        while True:
            code = self._proc.poll()
            if code is not None:
                raise DevRedisError(f"{self.binary} exited at start (code {code}){self._tail()}")
            try:
                conn = Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=1)
                with contextlib.closing(conn):
                    info: Any = conn.info("server")
                    return str(info.get("redis_version", "?"))
            except (RedisError, OSError):
                if time.monotonic() > deadline:
                    raise DevRedisError(
                        f"{self.binary} did not answer within {timeout_s:g} s{self._tail()}"
                    ) from None
            time.sleep(0.05)

    def _tail(self) -> str:
        try:
            lines = self._log.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return f": {lines[-1]}" if lines else ""

    @property
    def running(self) -> bool:
        return self._proc.poll() is None

    def stop(self) -> None:
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        shutil.rmtree(self._dir, ignore_errors=True)


def _die_with_parent() -> None:  # pragma: no cover - runs in the forked child
    """Linux: the server gets SIGTERM if `durable dev` dies without stopping it (SIGKILL)."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_redis_server(binary: str) -> RedisServer:
    """A fresh port can be taken between choosing it and redis-server binding it: retry."""
    attempt = 1
    while True:
        try:
            return RedisServer(binary)
        except DevRedisError:
            if attempt >= START_ATTEMPTS:
                raise
            attempt += 1


def embedded() -> DevRedis:
    try:
        from durable.cli.embedded_redis import EmbeddedRedis

        return EmbeddedRedis()
    except ImportError as exc:  # fakeredis (the `dev` extra) is not installed
        raise DevRedisError(NO_REDIS) from exc


def choose(env: dict[str, str] | os._Environ[str], startup_timeout_ms: int) -> DevRedis:
    """REDIS_URL, else redis-server from PATH, else embedded fakeredis, else DevRedisError."""
    url = env.get("REDIS_URL")
    if url:
        return ExternalRedis(url, startup_timeout_ms)
    binary = shutil.which("redis-server", path=env.get("PATH"))
    if binary:
        return start_redis_server(binary)
    return embedded()


def shown_url(redis: DevRedis) -> str:
    return mask_url(redis.url)
