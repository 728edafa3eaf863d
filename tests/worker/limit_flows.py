"""Workflows with concurrency and rate limits, for worker processes and in-process workers.

Their steps record in Redis (under the test's prefix, outside the workers) when each instance
starts, how many of its key are active at once, and the most ever seen, so a test checks what
the limits promise from what the workflow code itself saw.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from redis.asyncio import Redis

from durable import Concurrency, RateLimit, StepContext, workflow
from tests.helpers import async_redis, reply

LIMIT = 1
RATE, PERIOD_MS = 2, 3000

_connections: dict[int, Redis] = {}


def _conn() -> Redis:
    loop = id(asyncio.get_running_loop())
    if loop not in _connections:
        _connections[loop] = async_redis(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    return _connections[loop]


def key(*parts: str) -> str:
    """A test key under the test's prefix ({limits} keeps them in one cluster slot)."""
    return f"{os.environ['DURABLE_PREFIX']}:{{limits}}:" + ":".join(parts)


async def _started(tenant: str, instance_id: str) -> None:
    """Record a start: the order per tenant, the time (Redis'), and the most active at once."""
    conn = _conn()
    active = int(await conn.incr(key("active", tenant)))
    if active > LIMIT:
        await conn.set(key("over", tenant), active)
    seconds, micros = await conn.time()
    await reply(conn.rpush(key("starts", tenant), instance_id))
    await reply(conn.rpush(key("times", tenant), int(seconds) * 1000 + int(micros) // 1000))


async def _hold(instance_id: str) -> int:
    """Wait (inside a step) until the test releases this instance; counts the attempts."""
    conn = _conn()
    attempts = int(await conn.incr(key("attempts", instance_id)))
    while not await conn.exists(key("release", instance_id)):
        await asyncio.sleep(0.02)
    return attempts


@workflow("per-tenant", concurrency=Concurrency(LIMIT, key="tenant"))
async def per_tenant(event: Any, step: Any) -> Any:
    """Starts, holds its slot until released, then ends (errors when params.fail)."""
    tenant = str(event.payload.get("tenant"))

    async def start(ctx: StepContext) -> None:
        await _started(tenant, ctx.instance_id)

    async def hold(ctx: StepContext) -> int:
        return await _hold(ctx.instance_id)

    async def end(ctx: StepContext) -> None:
        await _conn().decr(key("active", tenant))

    await step.do("start", start)
    attempts = await step.do("hold", hold)
    await step.do("end", end)
    if event.payload.get("fail"):
        raise RuntimeError("failed on purpose")
    return {"attempts": attempts}


@workflow("rated", rate_limit=RateLimit(RATE, f"{PERIOD_MS} ms"))
async def rated(event: Any, step: Any) -> Any:
    """Records its start time and ends."""

    async def start(ctx: StepContext) -> None:
        seconds, micros = await _conn().time()
        at = int(seconds) * 1000 + int(micros) // 1000
        await reply(_conn().rpush(key("times", "rated"), at))

    await step.do("start", start)
    return "done"


workflows = [per_tenant, rated]
