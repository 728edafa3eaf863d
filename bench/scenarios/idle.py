"""Scenario 7: idle workers. 1, 10 and 50 durable workers with nothing to do, for a window of
`idle_window_s` after they have started and found nothing due (one window per count).

Measured per worker: the commands it sends Redis (its own count, through SIGUSR1:
bench/worker_main.py), what Redis processed meanwhile (INFO commandstats deltas: the commands
sent and those the scripts ran inside Redis) and its CPU (/proc). An idle durable worker blocks
on the wake marker (BZPOPMIN) for up to the block cap and then takes once (one script) to learn
of anything it missed: two commands per cap.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench.harness import Bench
from bench.report import Metric, metric

NAME = "idle"
COUNTS = (1, 10, 50)
SETTLE_S = 5.0  # after the gate: every worker has connected, taken once and blocks
DRIVER = ("info",)  # the driver's own commands during the window


async def commandstats(bench: Bench) -> dict[str, int]:
    found: dict[str, Any] = await bench.redis.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(stats["calls"]) for name, stats in found.items()}


async def redis_cpu_s(bench: Bench) -> float:
    cpu = await bench.redis.info("cpu")
    return float(cpu["used_cpu_user_main_thread"]) + float(cpu["used_cpu_sys_main_thread"])


async def one_round(bench: Bench, count: int) -> dict[str, Any]:
    """Per-worker rates over the window, and Redis' per-command rates (all workers)."""
    await bench.flush()
    window = bench.sizes.idle_window_s
    with bench.workers(count) as group:
        await group.wait_ready(bench.redis, timeout_s=60 + 3 * count)
        await group.open_gate(bench.redis)
        await asyncio.sleep(SETTLE_S)
        sent0, cpu0 = await group.sent(), group.cpu_seconds()
        stats0, redis0, t0 = await commandstats(bench), await redis_cpu_s(bench), time.monotonic()
        await asyncio.sleep(window)
        sent1, cpu1 = await group.sent(), group.cpu_seconds()
        stats1, redis1, t1 = await commandstats(bench), await redis_cpu_s(bench), time.monotonic()
    elapsed = t1 - t0
    calls = {
        name: (stats1.get(name, 0) - stats0.get(name, 0)) / elapsed
        for name in stats1
        if name not in DRIVER and stats1.get(name, 0) > stats0.get(name, 0)
    }
    return {
        "sent": (sent1["round_trips"] - sent0["round_trips"]) / elapsed / count,
        "cpu": 100 * (cpu1 - cpu0) / elapsed / count,
        "redis_cmds": sum(calls.values()) / count,
        "redis_cpu": 100 * (redis1 - redis0) / elapsed,
        "by_command": calls,
    }


def breakdown(by_command: dict[str, float]) -> str:
    top = sorted(by_command.items(), key=lambda item: -item[1])
    return "Redis, all workers: " + ", ".join(f"{name} {rate:.2f}/s" for name, rate in top)


async def run(bench: Bench) -> list[Metric]:
    out: list[Metric] = []
    for count in COUNTS:
        # one window per count, however many repetitions: the rates are steady (and 50 worker
        # processes take a while to start on two cores)
        rounds = [await one_round(bench, count)]
        w = f"{count} idle worker{'s' if count > 1 else ''}"
        note = breakdown(rounds[-1]["by_command"])
        out += [
            metric(
                NAME, f"commands sent per worker, {w}", "cmds/s", [r["sent"] for r in rounds],
                bar="<= 2", ok=lambda v: v <= 2,
            ),
            metric(
                NAME, f"CPU per worker, {w}", "% core", [r["cpu"] for r in rounds],
                bar="<= 1", ok=lambda v: v <= 1,
            ),
            metric(
                NAME, f"  Redis commands per worker, incl. in scripts, {w}", "cmds/s",
                [r["redis_cmds"] for r in rounds], note=note,
            ),
            metric(NAME, f"  Redis CPU, {w}", "% core", [r["redis_cpu"] for r in rounds]),
        ]  # fmt: skip
    return out
