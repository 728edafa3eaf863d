"""Workflows run by worker subprocesses in the distribution tests.

Counters live in Redis (outside the workers) under the test's prefix, so a killed worker's
executions are still counted.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from redis.asyncio import Redis

from durable import StepContext, workflow
from tests.helpers import async_redis

_connections: dict[int, Redis] = {}


def _conn() -> Redis:
    """One connection per event loop (tests run several loops in one process)."""
    loop = id(asyncio.get_running_loop())
    if loop not in _connections:
        _connections[loop] = async_redis(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    return _connections[loop]


def counter_key(instance_id: str, step: str) -> str:
    return f"{os.environ['DURABLE_PREFIX']}:count:{instance_id}:{step}"


async def count(ctx: StepContext, step: str) -> int:
    return int(await _conn().incr(counter_key(ctx.instance_id, step)))


@workflow("held")
async def held(event: Any, step: Any) -> Any:
    """One slow step (params.hold seconds) between two quick ones."""
    hold = float(event.payload.get("hold", 0))

    async def work(ctx: StepContext) -> int:
        n = await count(ctx, "work")
        await asyncio.sleep(hold)  # a step that takes a while: the scenario
        return n

    async def before(ctx: StepContext) -> int:
        return await count(ctx, "before")

    async def after(ctx: StepContext) -> int:
        return await count(ctx, "after")

    return [
        await step.do("before", before),
        await step.do("work", work),
        await step.do("after", after),
    ]


@workflow("mixed")
async def mixed(event: Any, step: Any) -> Any:
    """Steps, a retry, a sleep and an event wait: the shapes crash tests exercise."""

    async def one(ctx: StepContext) -> int:
        return await count(ctx, "one")

    async def flaky(ctx: StepContext) -> int:
        if ctx.attempt == 1:
            raise RuntimeError("first attempt fails")
        return await count(ctx, "flaky")

    a = await step.do("one", one)
    await step.sleep("nap", f"{int(event.payload.get('sleep_ms', 100))} ms")
    b = await step.do("flaky", flaky, retries={"limit": 2, "delay": "50 ms"})
    got = await step.wait_for_event("go", type="go", timeout="60 s")
    return {"a": a, "b": b, "event": got.payload}


workflows = {"held": held, "mixed": mixed}
