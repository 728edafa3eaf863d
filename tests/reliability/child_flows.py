"""Child workflows on real worker processes (tests/reliability/test_rel_children.py)."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from durable import ChildWorkflowError, NonRetryableError, StepContext, workflow
from tests.reliability.flows import _conn, counter_key


async def _work(ctx: StepContext) -> int:
    """Counts its executions in Redis, per instance and run (the step's idempotency key)."""
    return int(await _conn().incr(counter_key(os.environ["DURABLE_PREFIX"], ctx.idempotency_key)))


@workflow("rc-kid")
async def kid(event: Any, step: Any) -> Any:
    ran = await step.do("work", _work)
    mode = event.payload.get("mode")
    if mode == "fail":
        raise NonRetryableError("the child fails on purpose")
    if mode == "wait":
        await step.wait_for_event("hold", type="go", timeout="10 min")
    return {"x": event.payload.get("x", 0) * 2, "ran": ran}


@workflow("rc-fan")
async def fan(event: Any, step: Any) -> Any:
    """Invokes `n` children at once, then sleeps a few times (each sleep is a replay)."""
    calls = [
        step.invoke(f"c{i}", workflow="rc-kid", params={"x": i}) for i in range(event.payload["n"])
    ]
    outputs = await asyncio.gather(*calls)
    for nap in range(3):
        await step.sleep(f"nap{nap}", 1)
    return outputs


@workflow("rc-catch")
async def catch(event: Any, step: Any) -> Any:
    try:
        return await step.invoke("child", workflow="rc-kid", params=event.payload)
    except ChildWorkflowError as exc:
        return {"error": exc.error_name, "message": exc.error_message, "child": exc.child_id}


workflows = {"kid": kid, "fan": fan, "catch": catch}
