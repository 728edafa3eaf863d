"""Workflows the reliability tests and the soak run on real worker processes.

Every `step.do` counts its executions in Redis (keyed by the step's idempotency key, so per run)
and returns `{"n": <count at that execution>, "prev": <n of the step before>}`. A check can then
tell whether a recorded result was ever replaced: each result names its predecessor's result,
so a step recorded twice breaks the chain.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError, TimeoutError

from durable import NonRetryableError, StepContext, workflow
from tests.helpers import async_redis

EVENT_TIMEOUT = "10 min"
_connections: dict[int, Redis] = {}


def _conn() -> Redis:
    """One connection per event loop; it rides out a Redis restart like the workers do."""
    loop = id(asyncio.get_running_loop())
    if loop not in _connections:
        _connections[loop] = async_redis(
            os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
            retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), retries=60),
            retry_on_error=[ConnectionError, TimeoutError],
        )
    return _connections[loop]


def counter_key(prefix: str, idempotency_key: str) -> str:
    return f"{prefix}:cnt:{idempotency_key}"


def link(
    prev: dict[str, Any] | None, *, hold_ms: int = 0, flaky: bool = False
) -> Callable[[StepContext], Awaitable[dict[str, Any]]]:
    """A step function that counts itself and names the result it follows."""

    async def run(ctx: StepContext) -> dict[str, Any]:
        key = counter_key(os.environ["DURABLE_PREFIX"], ctx.idempotency_key)
        n = int(await _conn().incr(key))
        if hold_ms:
            await asyncio.sleep(hold_ms / 1000)  # a step that takes a while: the scenario
        if flaky and ctx.attempt == 1:
            raise RuntimeError("the first attempt of a flaky step fails")
        return {"n": n, "prev": None if prev is None else prev["n"]}

    return run


@workflow("rel-chain")
async def chain(event: Any, step: Any) -> Any:
    """Steps, a sleep, a retried step, `waits` event waits (key go, go#1, ...), one more step."""
    p = event.payload
    hold = int(p.get("hold_ms", 0))
    a = await step.do("a", link(None))
    await step.sleep("nap", int(p.get("nap_ms", 100)))
    b = await step.do("b", link(a, hold_ms=hold, flaky=True), retries={"limit": 2, "delay": 30})
    events = []
    for _ in range(int(p.get("waits", 2))):
        got = await step.wait_for_event("go", type="go", timeout=EVENT_TIMEOUT)
        step.log.info("event received", {"payload": got.payload})
        events.append(got.payload)
    c = await step.do("c", link(b, hold_ms=hold))
    return {"a": a, "b": b, "c": c, "events": events}


@workflow("rel-loop")
async def loop(event: Any, step: Any) -> Any:
    """`n` steps of the same name (item, item#1, ...), each logging, with a pause in the middle."""
    n = int(event.payload.get("n", 5))
    prev = None
    results = []
    for i in range(n):
        prev = await step.do("item", link(prev, hold_ms=int(event.payload.get("hold_ms", 0))))
        step.log.info("item done", {"i": i, "n": prev["n"]})
        results.append(prev)
        if i == n // 2:
            await step.sleep("half", 20)
    return {"items": results}


@workflow("rel-fail")
async def fail(event: Any, step: Any) -> Any:
    """Retries run out: errors with the step's error after three attempts."""

    async def broken(ctx: StepContext) -> None:
        await link(None)(ctx)
        if ctx.attempt >= 3:
            raise NonRetryableError("gave up on purpose", name="GaveUp")
        raise RuntimeError(f"attempt {ctx.attempt} fails")

    await step.do("ok", link(None))
    await step.do("broken", broken, retries={"limit": 5, "delay": 20, "backoff": "exponential"})


workflows = {"chain": chain, "loop": loop, "fail": fail}
