"""The workflows the benchmark runs (`bench.workflows:workflows`, for workers and the API)."""

from __future__ import annotations

import time
from typing import Any

from durable import Step, WorkflowEvent, workflow

THREE_STEPS = "bench.three_steps"
AWAIT_EVENT = "bench.await_event"
NAP = "bench.nap"
SLEEPER = "bench.sleeper"

EVENT_TYPE = "go"
NAP_STEP = "nap"


async def noop() -> None:
    return None


async def wall_clock_s() -> float:
    return time.time()


@workflow(THREE_STEPS)
async def three_steps(event: WorkflowEvent, step: Step) -> None:
    """Three no-op steps: the unit of the throughput, memory and scale scenarios."""
    await step.do("a", noop)
    await step.do("a", noop)
    await step.do("a", noop)


@workflow(AWAIT_EVENT)
async def await_event(event: WorkflowEvent, step: Step) -> dict[str, Any]:
    """Waits for an event whose payload carries the sender's clock; the next step reads it."""
    received = await step.wait_for_event("wait", type=EVENT_TYPE, timeout="1 h")
    ran = await step.do("stamp", wall_clock_s)
    return {"sent": (received.payload or {}).get("sent"), "ran": ran}


@workflow(NAP)
async def nap(event: WorkflowEvent, step: Step) -> float:
    """Sleeps, then a step reads the clock: its lateness is that minus the stored wake time."""
    await step.sleep(NAP_STEP, event.payload.get("sleep_ms", 1000))
    result: float = await step.do("stamp", wall_clock_s)
    return result


@workflow(SLEEPER)
async def sleeper(event: WorkflowEvent, step: Step) -> None:
    """Background load for the scale scenario: a timer far in the future."""
    await step.sleep("forever", "30 d")


workflows = [three_steps, await_event, nap, sleeper]
