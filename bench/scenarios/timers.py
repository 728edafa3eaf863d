"""Scenario 3: timer lateness. Instances sleep 1 s; the step after the sleep reads the clock, and
lateness = that time - the wake time the sleep stored (its `w` field, in ms).

Paced (the bar): instances are created at a steady rate, so timers come due at that rate while
others are being created and put to sleep. Burst (for information): all are created at once, so
the workers start with a backlog; arq serves due jobs oldest first, so wake-ups wait behind
the first runs still queued and lateness measures the backlog, not the timer machinery.
"""

from __future__ import annotations

import json

from bench.harness import PREFIX, Bench, ids
from bench.report import Metric, metric
from bench.stats import percentile
from bench.workflows import NAP, NAP_STEP
from durable import keys

NAME = "timers"
WORKERS = 2
SLEEP_MS = 1000
# Before push wake-ups (workers polling every 5 ms; docs/benchmarks.md, commit f3f96d2)
BEFORE = {"p50": 6.15, "p99": 12.1}


async def lateness_ms(bench: Bench, instance_ids: list[str]) -> list[float]:
    async with bench.redis.pipeline(transaction=False) as pipe:
        for iid in instance_ids:
            pipe.hget(keys.steps_key(PREFIX, NAP, iid, 0), NAP_STEP)
            pipe.hget(keys.instance_key(PREFIX, NAP, iid), "output")
        replies = await pipe.execute()
    wakes = [json.loads(r)["w"] for r in replies[0::2]]
    ran = [1e3 * json.loads(r) for r in replies[1::2]]
    return [r - w for r, w in zip(ran, wakes, strict=True)]


async def one_round(bench: Bench, tag: str, rate: float | None) -> list[float]:
    n = bench.sizes.timers
    instance_ids = ids(tag, n)
    await bench.flush()
    await bench.create(NAP, instance_ids, {"sleep_ms": SLEEP_MS}, rate=rate)
    await bench.wait_for_count(NAP, "complete", n, 60 + n / 50)
    return await lateness_ms(bench, instance_ids)


async def run(bench: Bench) -> list[Metric]:
    found: dict[str, list[float]] = {k: [] for k in ("p50", "p99", "max", "burst50", "burst99")}
    with bench.workers(WORKERS) as group:
        await group.release(bench.redis)
        for rep in range(bench.repeat):
            late = await one_round(bench, f"s{rep}", bench.sizes.timer_rate_per_s)
            found["p50"].append(percentile(late, 50))
            found["p99"].append(percentile(late, 99))
            found["max"].append(max(late))
            burst = await one_round(bench, f"b{rep}", None)
            found["burst50"].append(percentile(burst, 50))
            found["burst99"].append(percentile(burst, 99))
    n, rate = bench.sizes.timers, bench.sizes.timer_rate_per_s
    paced = f"{n} instances created at {rate}/s, each sleeping {SLEEP_MS} ms"
    before = "before push wake-ups (5 ms polling): {} ms"
    return [
        metric(
            NAME,
            "timer lateness p50 (paced)",
            "ms",
            found["p50"],
            note=before.format(BEFORE["p50"]),
        ),
        metric(
            NAME,
            "timer lateness p99 (paced)",
            "ms",
            found["p99"],
            bar="<= 10",
            ok=under_10,
            note=before.format(BEFORE["p99"]),
        ),
        metric(NAME, "timer lateness max (paced)", "ms", found["max"], note=paced),
        metric(NAME, f"burst of {n}: lateness p50", "ms", found["burst50"]),
        metric(NAME, f"burst of {n}: lateness p99", "ms", found["burst99"]),
    ]


def under_10(value: float) -> bool:
    return value <= 10
