"""Scenario 1: 3-step workflows against raw arq no-op jobs, with 1 and 2 worker processes.

Method (the same for both): flush, queue all N units of work with the workers stopped, then
start the workers together at a gate and time until the last unit is done, following the count
of units done every 10 ms. The bar is judged on the steady middle of the drain (harness.STEADY:
from 20% to 80% of the units), which leaves out the start (connections, script loading) and the
tail; the whole drain is reported too.
"""

from __future__ import annotations

from pathlib import Path

from arq.connections import create_pool

from bench import profiling
from bench.config import WORKER_COUNTS
from bench.harness import PREFIX, STEADY, Bench, Drain, fan_out, ids
from bench.report import Metric, metric
from bench.worker_main import NOOP_FUNCTION
from bench.workflows import THREE_STEPS
from durable import keys
from durable.worker.settings import build, redis_settings

STEPS = 3
ENQUEUE_CONCURRENCY = 64
PROFILE_MAX = 1_000  # workflows in the profiled drain (SLOWLOG keeps every command)
NAME = "throughput"


def timeout_s(n: int) -> float:
    return 60 + n / 50


async def enqueue_noops(bench: Bench, n: int) -> None:
    """N raw arq jobs through arq's own client, with the serializer durable's workers use."""
    options = build(bench.settings)
    pool = await create_pool(
        redis_settings(bench.redis_url),
        job_serializer=options["job_serializer"],
        job_deserializer=options["job_deserializer"],
        default_queue_name=options["queue_name"],
    )
    try:
        await fan_out(range(n), lambda _: pool.enqueue_job(NOOP_FUNCTION), ENQUEUE_CONCURRENCY)
    finally:
        await pool.aclose()


async def arq_drain(bench: Bench, workers: int, n: int) -> Drain:
    await bench.flush()
    await enqueue_noops(bench, n)
    queue = keys.queue_key(PREFIX)

    async def done() -> int:
        return n - int(await bench.redis.zcard(queue))

    return await bench.drain(bench.workers(workers, mode="arq"), done, n, timeout_s(n))


async def workflow_drain(
    bench: Bench, workers: int, n: int, tag: str, *, flush: bool = True
) -> Drain:
    """Create N 3-step instances, then time `workers` processes until all are complete."""
    if flush:
        await bench.flush()
    before = await bench.count(THREE_STEPS, "complete")
    await bench.create(THREE_STEPS, ids(tag, n))

    async def done() -> int:
        return await bench.count(THREE_STEPS, "complete") - before

    return await bench.drain(bench.workers(workers), done, n, timeout_s(n))


async def run(bench: Bench) -> list[Metric]:
    n = bench.sizes.throughput
    runs: dict[int, list[tuple[Drain, Drain]]] = {k: [] for k in WORKER_COUNTS}
    for rep in range(bench.repeat):
        for k in WORKER_COUNTS:
            raw = await arq_drain(bench, k, n)
            flow = await workflow_drain(bench, k, n, f"t{rep}w{k}")
            runs[k].append((flow, raw))
    if bench.profile is not None:
        await profile_drain(bench, min(n, PROFILE_MAX), bench.profile)
    out = [m for k in WORKER_COUNTS for m in worker_metrics(k, n, runs[k])]
    return [*out, scaling(n, runs)]


async def profile_drain(bench: Bench, n: int, stem: Path) -> None:
    """One extra 1-worker drain under pyinstrument, with Redis logging every command's cost."""
    await bench.flush()
    await bench.create(THREE_STEPS, ids("profile", n))
    await profiling.start(bench.redis)

    async def done() -> int:
        return await bench.count(THREE_STEPS, "complete")

    await bench.drain(bench.workers(1, profile=stem), done, n, timeout_s(n))
    rows = await profiling.stop(bench.redis, bench.settings, n)
    stem.with_name("profile-redis.txt").write_text(profiling.render(rows, "workflow") + "\n")


def worker_metrics(k: int, n: int, runs: list[tuple[Drain, Drain]]) -> list[Metric]:
    flows, raws = [f for f, _ in runs], [r for _, r in runs]
    w = f"{k} worker{'s' if k > 1 else ''}"
    middle = STEADY[1] - STEADY[0]
    return [
        metric(NAME, f"workflows/s, {w}", "wf/s", [middle * n / d.steady_seconds for d in flows]),
        metric(
            NAME, f"steps/s, {w}", "steps/s", [STEPS * middle * n / d.steady_seconds for d in flows]
        ),
        metric(
            NAME, f"raw arq jobs/s, {w}", "jobs/s", [middle * n / d.steady_seconds for d in raws]
        ),
        metric(
            NAME,
            f"workflow time / arq job time, {w}",
            "ratio",
            [f.steady_seconds / r.steady_seconds for f, r in runs],
            bar="<= 1",
            ok=lambda v: v <= 1.0,
            note="steady middle of the drains (20-80%)",
        ),
        metric(
            NAME,
            f"  the same over the whole drains, {w}",
            "ratio",
            [f.seconds / r.seconds for f, r in runs],
        ),
        *unit_costs(f"workflow, {w}", n, flows),
        *unit_costs(f"arq job, {w}", n, raws),
    ]


def unit_costs(what: str, n: int, drains: list[Drain]) -> list[Metric]:
    return [
        metric(NAME, f"round trips per {what}", "RTT", [d.round_trips / n for d in drains]),
        metric(NAME, f"network writes per {what}", "writes", [d.writes / n for d in drains]),
        metric(NAME, f"Redis commands per {what}", "cmds", [d.redis_commands / n for d in drains]),
        metric(NAME, f"worker CPU per {what}", "ms", [1e3 * d.worker_cpu_s / n for d in drains]),
        metric(NAME, f"Redis CPU per {what}", "ms", [1e3 * d.redis_cpu_s / n for d in drains]),
    ]


def scaling(n: int, runs: dict[int, list[tuple[Drain, Drain]]]) -> Metric:
    one, two = runs[1], runs[2]
    speedups = [a[0].steady_seconds / b[0].steady_seconds for a, b in zip(one, two, strict=True)]
    return metric(NAME, "2 workers / 1 worker", "x", speedups, bar="> 1", ok=lambda v: v > 1)
