"""Scenario 8: partitions on one Redis, and a 3-node Redis Cluster.

Method. A drain: N 3-step workflows (the throughput scenario's unit) are created with no worker
running, then `durable worker` processes start (the shipped command, 50 slots each) and the
driver follows the number complete every 50 ms until all are; throughput is taken over the
steady middle of the drain (20% to 80% of the units), past the workers' start-up. Each node's
work is read from Redis itself before and after the drain: `INFO commandstats` (the calls of
every command, so the commands scripts run inside Redis count too) and the main thread's CPU.

1. One Redis, P = 1 against P = 4 (alternating, `repeat` times, one worker): what the
   partitioned layout costs per workflow when it is used, and P = 1's cost per workflow, which
   is the layout (and the scripts, byte for byte) of before partitions.
2. A 3-node Redis Cluster of this machine (48 partitions), 1 and 2 workers: each node's share of
   the commands (bar: within 10% of 1/3), Redis CPU per workflow, and the throughput projected
   for 1, 2, 3 and 6 primaries. The projection is Redis-bound: a cluster serves workflows until
   its busiest node's main thread is saturated. With C the Redis CPU per workflow summed over
   the three nodes and S the busiest node's share of it (1/3 when even), the busiest of N
   primaries spends C * S * 3 / N per workflow (the measured imbalance kept), so N primaries
   serve about N / (C * S * 3) workflows/s, given workers enough to keep them busy. On a 2-core
   machine that runs the nodes and the workers at once, the drains' own wall-clock rates say
   little about scaling; the projection is what grows with the primaries.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from bench.cluster_server import ClusterServer
from bench.harness import STEADY, Bench, steady_seconds
from bench.report import Metric, metric
from bench.workflows import THREE_STEPS, workflows
from durable import keys
from durable.client import BATCH_LIMIT, Client
from durable.settings import Settings

NAME = "partitions"
NODES = 3
PROJECTED = (1, 2, 3, 6)
POLL_S = 0.05
SHARE_TOLERANCE = 0.10  # each node's share of the commands: within 10% of 1/NODES


@dataclass
class Drained:
    workflows_per_s: float
    commands: list[int]  # per node
    cpu_s: list[float]  # per node, main thread


async def node_counters(node: Redis) -> tuple[int, float]:
    """(calls of every command so far, main-thread CPU seconds) of one Redis server."""
    stats = await node.info("commandstats")
    cpu = await node.info("cpu")
    calls = sum(int(v["calls"]) for k, v in stats.items() if k.startswith("cmdstat_"))
    return calls, float(cpu["used_cpu_user_main_thread"]) + float(cpu["used_cpu_sys_main_thread"])


def start_workers(url: str, prefix: str, count: int, log: Path) -> list[subprocess.Popen[bytes]]:
    env = {**os.environ, "REDIS_URL": url, "DURABLE_PREFIX": prefix, "DURABLE_LOG_LEVEL": "warning"}
    args = [sys.executable, "-m", "durable.cli.main", "worker", "--workflows"]
    args += ["bench.workflows:workflows"]
    with log.open("ab") as out:
        return [
            subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
            for _ in range(count)
        ]


def stop_workers(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def drain(
    bench: Bench, url: str, prefix: str, n: int, workers: int, nodes: list[Redis], **settings: Any
) -> Drained:
    client = Client(workflows, Settings(redis_url=url, prefix=prefix, **settings))
    try:
        layout = await client.store.open()
        for start in range(0, n, BATCH_LIMIT):
            items: list[dict[str, Any]] = [
                {"id": f"w{i:07d}"} for i in range(start, min(n, start + BATCH_LIMIT))
            ]
            await client.create_batch(THREE_STEPS, items)
        complete = [
            keys.status_index_key(space, THREE_STEPS, "complete") for space in layout.spaces()
        ]

        async def done() -> int:
            async with client.redis.pipeline(transaction=False) as pipe:
                for key in complete:
                    pipe.zcard(key)
                return sum(int(c) for c in await pipe.execute())

        before = [await node_counters(node) for node in nodes]
        started = time.perf_counter()
        procs = start_workers(url, prefix, workers, bench.logdir / "partitions-workers.log")
        try:
            samples = await follow_slowly(done, n)
        finally:
            stop_workers(procs)
        after = [await node_counters(node) for node in nodes]
    finally:
        await client.aclose()
    middle = (STEADY[1] - STEADY[0]) * n
    return Drained(
        middle / steady_seconds([(started, 0), *samples], n),
        [a[0] - b[0] for a, b in zip(after, before, strict=True)],
        [a[1] - b[1] for a, b in zip(after, before, strict=True)],
    )


async def follow_slowly(done: Any, n: int) -> list[tuple[float, int]]:
    """harness.follow at POLL_S: each poll reads every partition's index."""
    samples: list[tuple[float, int]] = []
    deadline = time.monotonic() + 120 + n / 20
    while not samples or samples[-1][1] < n:
        if time.monotonic() > deadline:
            raise TimeoutError("timed out waiting for the partitions drain")
        if samples:
            await asyncio.sleep(POLL_S)
        samples.append((time.perf_counter(), await done()))
    return samples


async def one_redis(bench: Bench) -> list[Metric]:
    n = bench.sizes.throughput
    runs: dict[int, list[Drained]] = {1: [], 4: []}
    for rep in range(bench.repeat):
        for p in (1, 4):
            await bench.flush()
            runs[p].append(
                await drain(
                    bench, bench.redis_url, f"p{p}r{rep}", n, 1, [bench.redis], partitions=p
                )
            )
    out = []
    for p, found in runs.items():
        label = f"P = {p}, one Redis, 1 worker"
        out += [
            metric(NAME, f"workflows/s, {label}", "wf/s", [d.workflows_per_s for d in found]),
            metric(
                NAME,
                f"Redis commands per workflow, {label}",
                "cmds",
                [d.commands[0] / n for d in found],
            ),
            metric(
                NAME,
                f"Redis CPU per workflow, {label}",
                "ms",
                [1e3 * d.cpu_s[0] / n for d in found],
            ),
        ]
    ratio = [b.workflows_per_s / a.workflows_per_s for a, b in zip(runs[1], runs[4], strict=True)]
    out.append(metric(NAME, "workflows/s, P = 4 / P = 1 (one Redis)", "ratio", ratio))
    return out


async def cluster(bench: Bench) -> list[Metric]:
    n = bench.sizes.throughput
    out: list[Metric] = []
    with ClusterServer(NODES) as server:
        nodes = [Redis(port=port) for port in server.ports]
        try:
            for workers in (1, 2):
                found = [
                    await drain(bench, server.url, f"c{workers}r{rep}", n, workers, nodes)
                    for rep in range(bench.repeat)
                ]
                out += cluster_metrics(n, workers, found)
        finally:
            for node in nodes:
                await node.aclose()
    return out


def cluster_metrics(n: int, workers: int, found: list[Drained]) -> list[Metric]:
    w = f"3-node cluster, {workers} worker{'s' if workers > 1 else ''}"
    shares = [max(abs(c / sum(d.commands) * NODES - 1) for c in d.commands) for d in found]
    cpu_total = [sum(d.cpu_s) / n for d in found]  # Redis CPU s per workflow, all nodes
    busiest = [max(d.cpu_s) / sum(d.cpu_s) for d in found]  # its share of that CPU
    out = [
        metric(NAME, f"workflows/s, {w}", "wf/s", [d.workflows_per_s for d in found]),
        metric(
            NAME,
            f"commands per node, furthest from 1/3, {w}",
            "% off",
            [100 * s for s in shares],
            bar=f"≤ {SHARE_TOLERANCE:.0%}",
            ok=lambda v: v <= 100 * SHARE_TOLERANCE,
            note="INFO commandstats deltas, commands inside scripts included",
        ),
        metric(
            NAME, f"Redis commands per workflow, {w}", "cmds", [sum(d.commands) / n for d in found]
        ),
        metric(
            NAME, f"Redis CPU per workflow (all nodes), {w}", "ms", [1e3 * c for c in cpu_total]
        ),
        metric(NAME, f"busiest node's share of Redis CPU, {w}", "%", [100 * b for b in busiest]),
    ]
    for primaries in PROJECTED:
        projected = [
            1 / (c * b * NODES / primaries) for c, b in zip(cpu_total, busiest, strict=True)
        ]
        out.append(
            metric(NAME, f"projected workflows/s, {primaries} primaries ({w})", "wf/s", projected)
        )
    return out


async def run(bench: Bench) -> list[Metric]:
    return [*(await one_redis(bench)), *(await cluster(bench))]
