"""Worker and API server subprocesses: started, released at a gate, measured, stopped."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable
from pathlib import Path
from types import TracebackType
from typing import cast

import httpx
from redis.asyncio import Redis

from bench.machine import process_cpu_s


def _spawn(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)


def _stop(proc: subprocess.Popen[bytes], timeout_s: float = 15.0) -> None:
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class Workers:
    """`count` worker processes that start working together when `release()` is awaited."""

    def __init__(
        self,
        redis_url: str,
        prefix: str,
        count: int,
        logdir: Path,
        *,
        mode: str = "durable",
        profile: Path | None = None,
    ) -> None:
        self.gate = f"bench:gate:{uuid.uuid4().hex[:8]}"
        self.redis_url, self.count, self.logdir = redis_url, count, logdir
        base = [sys.executable, "-m", "bench.worker_main", "--redis-url", redis_url]
        self.args = [*base, "--prefix", prefix, "--mode", mode, "--gate", self.gate]
        self.profile = profile
        self.procs: list[subprocess.Popen[bytes]] = []
        self.round_trips = 0  # commands the workers waited for one by one (worker_main.py)
        self.writes = 0  # their network writes (a pipeline is one)
        self._cpu_at_release = 0.0

    def _stats_path(self, n: int) -> Path:
        return self.logdir / f"{self.gate.rsplit(':', 1)[1]}-{n}.json"

    def start(self) -> Workers:
        for n in range(self.count):
            args = [*self.args, "--stats", str(self._stats_path(n))]
            if self.profile is not None and n == 0:
                args += ["--profile", str(self.profile)]
            self.procs.append(_spawn(args, self.logdir / "workers.log"))
        return self

    async def wait_ready(self, redis: Redis, timeout_s: float = 60.0) -> None:
        """Until every worker has imported everything and waits at the gate."""
        deadline = time.monotonic() + timeout_s
        while await cast("Awaitable[int]", redis.llen(f"{self.gate}:ready")) < self.count:
            if any(p.poll() is not None for p in self.procs) or time.monotonic() > deadline:
                raise RuntimeError(f"workers did not start; see {self.logdir / 'workers.log'}")
            await asyncio.sleep(0.02)

    async def open_gate(self, redis: Redis) -> float:
        """Let every worker start; returns the perf_counter reading at that moment."""
        self._cpu_at_release = self.cpu_seconds()
        started = time.perf_counter()
        await cast("Awaitable[int]", redis.rpush(f"{self.gate}:go", *["go"] * self.count))
        return started

    async def release(self, redis: Redis) -> float:
        await self.wait_ready(redis)
        return await self.open_gate(redis)

    def cpu_seconds(self) -> float:
        return sum(process_cpu_s(p.pid) for p in self.procs)

    def cpu_since_release(self) -> float:
        return self.cpu_seconds() - self._cpu_at_release

    async def sent(self, timeout_s: float = 10.0) -> dict[str, int]:
        """What the live workers have sent Redis since the gate opened (SIGUSR1 makes each
        write its counts), summed: {"round_trips": ..., "writes": ...}."""
        before = [self._stats(n).get("dumps", 0) for n in range(len(self.procs))]
        for proc in self.procs:
            proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + timeout_s
        while any(self._stats(n).get("dumps", 0) <= before[n] for n in range(len(self.procs))):
            if time.monotonic() > deadline:
                raise RuntimeError(f"workers did not report; see {self.logdir / 'workers.log'}")
            await asyncio.sleep(0.01)
        found = [self._stats(n) for n in range(len(self.procs))]
        return {key: sum(f[key] for f in found) for key in ("round_trips", "writes")}

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            _stop(proc)
        found = [self._stats(n) for n in range(len(self.procs))]
        self.round_trips = sum(f.get("round_trips", 0) for f in found)
        self.writes = sum(f.get("writes", 0) for f in found)
        for n in range(len(self.procs)):
            self._stats_path(n).unlink(missing_ok=True)

    def _stats(self, n: int) -> dict[str, int]:
        try:
            found: dict[str, int] = json.loads(self._stats_path(n).read_text())
        except (OSError, ValueError):  # not written yet, or being written
            return {}
        return found

    def __enter__(self) -> Workers:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class ApiServer:
    """uvicorn serving `api.create_app(...)` for the bench workflows, in its own process."""

    def __init__(self, redis_url: str, prefix: str, port: int, logdir: Path) -> None:
        self.base_url = f"http://127.0.0.1:{port}/api/workflows"
        args = [sys.executable, "-m", "bench.api_main", "--redis-url", redis_url]
        self.args = [*args, "--prefix", prefix, "--port", str(port)]
        self.logdir = logdir
        self.proc: subprocess.Popen[bytes] | None = None

    async def __aenter__(self) -> ApiServer:
        self.proc = _spawn(self.args, self.logdir / "api.log")
        deadline = time.monotonic() + 30
        async with httpx.AsyncClient() as http:
            while True:
                try:
                    if (await http.get(f"{self.base_url}/health")).status_code == 200:
                        return self
                except httpx.TransportError:
                    pass
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the API did not start; see {self.logdir / 'api.log'}")
                await asyncio.sleep(0.05)

    async def __aexit__(self, *exc: object) -> None:
        if self.proc is not None:
            _stop(self.proc)
