"""Scenario 5: scenario 1's 2-worker throughput while many other instances sleep far ahead.

Two private Redis servers: the benchmark's own (empty) and a second one holding the sleepers.
The sleepers are created with pipelined create scripts and each is advanced once by durable's
own Runner in this process (the code path of the API's runner tick, minus arq's pick-up cost),
so each holds a real timer: status waiting, a step record, an arq job due in 30 days, in the
same queue and indexes the measured workflows use. Then the same drain alternates between the
two servers, so slow changes in machine load hit both sides of each pair alike.
"""

from __future__ import annotations

import time

from bench.harness import Bench, fan_out, ids
from bench.redis_server import RedisServer
from bench.report import Metric, metric
from bench.scenarios.throughput import workflow_drain
from bench.workflows import SLEEPER
from durable.runner import Runner
from durable.store import Ref

NAME = "scale"
WORKERS = 2
ADVANCE_CONCURRENCY = 64


async def put_to_sleep(bench: Bench, n: int) -> float:
    """Create n sleepers and run each to its timer; returns instances/s."""
    started = time.perf_counter()
    sleepers = ids("sleeper", n)
    await bench.create(SLEEPER, sleepers)
    runner = Runner(bench.client.store, bench.client.registry)
    await fan_out(sleepers, lambda iid: runner.advance(Ref(SLEEPER, iid)), ADVANCE_CONCURRENCY)
    asleep = await bench.count(SLEEPER, "waiting")
    if asleep != n:
        raise RuntimeError(f"only {asleep} of {n} sleepers reached their timer")
    return n / (time.perf_counter() - started)


async def rate(bench: Bench, tag: str) -> float:
    n = bench.sizes.throughput
    return n / (await workflow_drain(bench, WORKERS, n, tag, flush=False)).seconds


async def paired_rates(plain: Bench, loaded: Bench) -> tuple[list[float], list[float]]:
    """Alternate the drain between the servers, swapping which goes first in every pair."""
    without: list[float] = []
    with_sleepers: list[float] = []
    await rate(plain, "warm-up")
    await rate(loaded, "warm-up")
    for pair in range(max(plain.repeat, plain.sizes.scale_pairs)):
        if pair % 2:
            with_sleepers.append(await rate(loaded, f"p{pair}"))
            without.append(await rate(plain, f"p{pair}"))
        else:
            without.append(await rate(plain, f"p{pair}"))
            with_sleepers.append(await rate(loaded, f"p{pair}"))
    return without, with_sleepers


def within(ratio: float) -> bool:
    return ratio >= 0.90


async def run(bench: Bench) -> list[Metric]:
    sleepers = bench.sizes.sleepers
    await bench.flush()
    with RedisServer() as second:
        loaded = Bench(second.url, bench.sizes, bench.repeat, bench.logdir)
        try:
            setup_rate = await put_to_sleep(loaded, sleepers)
            without, with_sleepers = await paired_rates(bench, loaded)
            still_asleep = await loaded.count(SLEEPER, "waiting")
        finally:
            await loaded.aclose()
    ratios = [b / a for a, b in zip(without, with_sleepers, strict=True)]
    note = f"{still_asleep:,} sleepers still waiting afterwards"
    return [
        metric(NAME, "workflows/s, 2 workers, no sleepers", "wf/s", without),
        metric(NAME, f"workflows/s, 2 workers, {sleepers:,} sleepers", "wf/s", with_sleepers),
        metric(
            NAME, "with sleepers / without", "ratio", ratios, bar=">= 0.90", ok=within, note=note
        ),
        metric(NAME, "set-up: sleepers created and put to sleep", "inst/s", [setup_rate]),
    ]
