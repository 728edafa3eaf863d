"""A description of the machine and software a run measured."""

from __future__ import annotations

import os
import platform
import subprocess
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

from redis import Redis

TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def _first(path: str, key: str) -> str:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def source_state() -> dict[str, Any]:
    """The commit measured, and whether the measured packages had uncommitted changes."""
    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else "unknown"

    dirty = git("status", "--porcelain", "--", "durable")
    return {"commit": git("rev-parse", "--short", "HEAD"), "uncommitted_changes": bool(dirty)}


def describe(redis_url: str) -> dict[str, Any]:
    with Redis.from_url(redis_url) as redis:
        server = redis.info("server")
    return {
        "cpus": os.cpu_count(),
        "cpu_model": _first("/proc/cpuinfo", "model name"),
        "memory": _first("/proc/meminfo", "MemTotal"),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "redis_server": server.get("redis_version"),
        "packages": {name: version(name) for name in ("arq", "redis", "uvicorn", "httpx")},
        "source": source_state(),
    }


def _busy_s() -> float:
    """CPU seconds all processes on the machine have used since boot (not idle, not iowait)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / TICKS_PER_S


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a live process, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_S


def _own_s(live_pids: tuple[int, ...]) -> float:
    """CPU seconds of this process, its reaped children and the given live processes."""
    t = os.times()
    own = t.user + t.system + t.children_user + t.children_system
    return own + sum(process_cpu_s(pid) for pid in live_pids)


class OtherLoad:
    """How much of the machine processes outside the benchmark used while it ran a scenario.

    Measure at scenario boundaries, when every worker and API process has been reaped."""

    def __init__(self, *live_pids: int) -> None:
        self.live_pids = live_pids
        self._start = (_busy_s(), _own_s(live_pids), time.monotonic())

    def share(self) -> float:
        """Other processes' CPU time as a fraction of the machine's capacity since creation."""
        busy0, own0, t0 = self._start
        foreign = (_busy_s() - busy0) - (_own_s(self.live_pids) - own0)
        capacity = (time.monotonic() - t0) * (os.cpu_count() or 1)
        return max(0.0, foreign / capacity) if capacity > 0 else 0.0
