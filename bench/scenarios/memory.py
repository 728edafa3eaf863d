"""Scenario 4: Redis memory per completed 3-step instance.

INFO memory's used_memory minus mem_clients_normal (client query/output buffers, which swing
with whatever the idle workers last did), before and after N instances run to completion.
"""

from __future__ import annotations

import asyncio

from bench.harness import PREFIX, Bench, ids
from bench.report import Metric, metric
from bench.workflows import THREE_STEPS
from durable import keys

NAME = "memory"
WORKERS = 2
WARM_UP = 200  # past the listpack limits of the indexes, so the delta is the marginal cost


async def used_memory(bench: Bench) -> int:
    await asyncio.sleep(0.2)  # let the last replies leave the client buffers
    info = await bench.redis.info("memory")
    return int(info["used_memory"]) - int(info["mem_clients_normal"])


async def one_round(bench: Bench, tag: str) -> tuple[float, float]:
    n = bench.sizes.memory
    await bench.flush()
    await bench.create(THREE_STEPS, ids(f"{tag}w", WARM_UP))
    await bench.wait_for_count(THREE_STEPS, "complete", WARM_UP, 60)
    before, keys_before = await used_memory(bench), await bench.redis.dbsize()
    await bench.create(THREE_STEPS, ids(tag, n))
    await bench.wait_for_count(THREE_STEPS, "complete", WARM_UP + n, 60 + n / 50)
    after, keys_after = await used_memory(bench), await bench.redis.dbsize()
    return (after - before) / n, (keys_after - keys_before) / n


async def sample_usage(bench: Bench, instance_id: str) -> dict[str, int]:
    """MEMORY USAGE of one completed instance's own keys."""
    names = {
        "instance hash": keys.instance_key(PREFIX, THREE_STEPS, instance_id),
        "steps hash": keys.steps_key(PREFIX, THREE_STEPS, instance_id, 0),
    }
    usage = {}
    for label, key in names.items():
        usage[label] = int(await bench.redis.memory_usage(key, samples=0) or 0)
    return usage


async def run(bench: Bench) -> list[Metric]:
    per_instance, keys_per_instance = [], []
    with bench.workers(WORKERS) as group:
        await group.release(bench.redis)
        for rep in range(bench.repeat):
            bytes_each, keys_each = await one_round(bench, f"m{rep}")
            per_instance.append(bytes_each)
            keys_per_instance.append(keys_each)
        usage = await sample_usage(bench, ids(f"m{bench.repeat - 1}", 1)[0])
    note = ", ".join(f"{k} {v} B" for k, v in usage.items())
    name = "Redis bytes per completed instance"
    out = metric(NAME, name, "B", per_instance, bar="<= 2048", ok=lambda v: v <= 2048, note=note)
    out.extra = usage
    return [out, metric(NAME, "Redis keys per completed instance", "keys", keys_per_instance)]
