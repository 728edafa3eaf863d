"""Workflows of the metrics and tracing tests (`tests.observe.flows:workflows` for workers)."""

from __future__ import annotations

from typing import Any

from durable import NonRetryableError, StepContext, workflow


def fails_once(ctx: StepContext) -> str:
    if ctx.attempt < 2:
        raise RuntimeError("the first attempt fails")
    return f"attempt {ctx.attempt}"


@workflow("obs-retry")
async def retried(event: Any, step: Any) -> str:
    """A step that succeeds on its retry, then a short sleep."""
    value: str = await step.do("flaky", fails_once, retries={"limit": 2, "delay": "20 ms"})
    await step.sleep("nap", "50 ms")
    return value


@workflow("obs-wait")
async def waits(event: Any, step: Any) -> Any:
    got = await step.wait_for_event("go", type="go", timeout="1 min")
    done = await step.do("after", lambda: "done")
    return {"payload": got.payload, "after": done}


def echo(payload: Any) -> Any:
    if isinstance(payload, dict) and payload.get("fail"):
        raise NonRetryableError("asked to fail")
    return payload


@workflow("obs-plain")
async def plain(event: Any, step: Any) -> Any:
    """One step that echoes the params, or fails at once when they say `fail`."""
    return await step.do("echo", lambda: echo(event.payload))


workflows = {"obs-retry": retried, "obs-wait": waits, "obs-plain": plain}
