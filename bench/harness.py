"""What every scenario shares: the private Redis, a durable Client, processes and waiting."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from redis.asyncio import Redis

from bench.config import Sizes
from bench.processes import Workers
from bench.workflows import workflows
from durable import keys
from durable.client import BATCH_LIMIT, Client
from durable.settings import Settings

T = TypeVar("T")
R = TypeVar("R")

PREFIX = "bench"
POLL_S = 0.01


# The steady middle of a drain: from the time this share of the work is done to this one, past
# the start (connections, script loading, every worker finding its first work) and the tail
# (fewer units left than slots).
STEADY = (0.2, 0.8)


@dataclass
class Drain:
    """One timed run of workers over work that was queued before they started."""

    seconds: float
    steady_seconds: float  # for the middle STEADY share of the units
    worker_cpu_s: float
    redis_cpu_s: float
    redis_commands: int  # including the commands scripts run inside Redis
    round_trips: int  # commands the workers waited for one by one
    writes: int  # the workers' network writes (a pipeline counts once)


class Bench:
    def __init__(self, redis_url: str, sizes: Sizes, repeat: int, logdir: Path) -> None:
        self.redis_url, self.sizes, self.repeat, self.logdir = redis_url, sizes, repeat, logdir
        self.settings = Settings(redis_url=redis_url, prefix=PREFIX)
        self.redis = Redis.from_url(redis_url)
        self.client = Client(workflows, self.settings)
        self.profile: Path | None = None

    async def aclose(self) -> None:
        await self.client.aclose()
        await self.redis.aclose()

    def workers(self, count: int, *, mode: str = "durable", profile: Path | None = None) -> Workers:
        return Workers(self.redis_url, PREFIX, count, self.logdir, mode=mode, profile=profile)

    async def flush(self) -> None:
        await self.redis.flushall()

    async def count(self, workflow: str, status: str) -> int:
        return int(await self.redis.zcard(keys.status_index_key(PREFIX, workflow, status)))

    async def create(
        self, workflow: str, ids: Sequence[str], params: Any = None, *, rate: float | None = None
    ) -> None:
        """Create instances with pipelined create scripts: all at once (BATCH_LIMIT per round
        trip), or paced at `rate` per second in small batches, 20 a second."""
        size = BATCH_LIMIT if rate is None else max(1, int(rate / 20))
        started = time.perf_counter()
        for start in range(0, len(ids), size):
            if rate is not None:
                await asyncio.sleep(max(0.0, started + start / rate - time.perf_counter()))
            chunk = ids[start : start + size]
            await self.client.create_batch(workflow, [{"id": i, "params": params} for i in chunk])

    async def wait_for_count(
        self, workflow: str, status: str, target: int, timeout_s: float
    ) -> int:
        """Poll a status index until it holds `target` ids; returns the number of polls."""

        async def reached() -> bool:
            return await self.count(workflow, status) >= target

        return await wait_until(reached, timeout_s, f"{target} {workflow} instances {status}")

    async def redis_counters(self) -> tuple[float, int]:
        """(main-thread CPU seconds, commands processed) of the Redis server so far."""
        cpu = await self.redis.info("cpu")
        stats = await self.redis.info("stats")
        seconds = float(cpu["used_cpu_user_main_thread"]) + float(cpu["used_cpu_sys_main_thread"])
        return seconds, int(stats["total_commands_processed"])

    async def drain(
        self,
        workers: Workers,
        progress: Callable[[], Awaitable[int]],
        target: int,
        timeout_s: float,
    ) -> Drain:
        """Start `workers` at a gate and time them until `progress()` (units done) reaches
        `target`; the queue is filled already."""
        with workers:
            await workers.wait_ready(self.redis)
            cpu0, commands0 = await self.redis_counters()
            started = await workers.open_gate(self.redis)
            samples = await follow(progress, target, timeout_s, "the drain")
            seconds = time.perf_counter() - started
            worker_cpu = workers.cpu_since_release()
            cpu1, commands1 = await self.redis_counters()
        # The driver's own commands (polls, the gate, two INFO calls) are not the workers' work.
        commands = commands1 - commands0 - len(samples) - 3
        steady = steady_seconds([(started, 0), *samples], target)
        return Drain(
            seconds, steady, worker_cpu, cpu1 - cpu0, commands, workers.round_trips, workers.writes
        )


async def follow(
    progress: Callable[[], Awaitable[int]], target: int, timeout_s: float, what: str
) -> list[tuple[float, int]]:
    """Poll `progress()` until it reaches `target`: the (perf_counter, units done) samples."""
    deadline = time.monotonic() + timeout_s
    samples: list[tuple[float, int]] = []
    while not samples or samples[-1][1] < target:
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        if samples:
            await asyncio.sleep(POLL_S)
        done = await progress()
        samples.append((time.perf_counter(), done))
    return samples


def steady_seconds(samples: Sequence[tuple[float, int]], target: int) -> float:
    """How long the units between the STEADY shares of `target` took (interpolated)."""
    low, high = (crossing(samples, share * target) for share in STEADY)
    return high - low


def crossing(samples: Sequence[tuple[float, int]], level: float) -> float:
    """When the count first reached `level`, interpolated between two samples."""
    for (t0, c0), (t1, c1) in itertools.pairwise(samples):
        if c1 >= level:
            return t1 if c1 == c0 else t0 + (t1 - t0) * max(0.0, level - c0) / (c1 - c0)
    return samples[-1][0]


async def wait_until(done: Callable[[], Awaitable[bool]], timeout_s: float, what: str) -> int:
    deadline = time.monotonic() + timeout_s
    polls = 1
    while not await done():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        await asyncio.sleep(POLL_S)
        polls += 1
    return polls


async def fan_out(items: Sequence[T], fn: Callable[[T], Awaitable[R]], concurrency: int) -> list[R]:
    """fn over items with at most `concurrency` calls in flight; results in input order."""
    results: list[R | None] = [None] * len(items)
    cursor = iter(range(len(items)))

    async def lane() -> None:
        for i in cursor:
            results[i] = await fn(items[i])

    await asyncio.gather(*(lane() for _ in range(min(concurrency, len(items)))))
    return results  # type: ignore[return-value]


def ids(tag: str, count: int) -> list[str]:
    return [f"{tag}-{n:06d}" for n in range(count)]
