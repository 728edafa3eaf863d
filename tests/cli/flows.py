"""Workflows for the CLI end-to-end tests: `--workflows tests.cli.flows:workflows`."""

from __future__ import annotations

from typing import Any

from durable import StepContext, WorkflowEvent, workflow
from durable.step import Step


@workflow("cli-approval")
async def approval(event: WorkflowEvent, step: Step) -> dict[str, Any]:
    """Log, wait for an approval event, record the decision."""
    step.log.info("waiting for approval", {"requestId": (event.payload or {}).get("requestId")})
    decision = await step.wait_for_event("approval", type="approval", timeout="1 min")
    approved = bool((decision.payload or {}).get("approved"))
    result: dict[str, Any] = await step.do("record", lambda: {"approved": approved})
    step.log.info("decision recorded", result)
    return result


@workflow("cli-flaky")
async def flaky(event: WorkflowEvent, step: Step) -> dict[str, Any]:
    """Its only step fails on the first attempt, so the instance errors until retried."""

    def charge(ctx: StepContext) -> dict[str, Any]:
        if ctx.attempt < 2:
            raise RuntimeError("card declined")
        return {"charged": True, "attempt": ctx.attempt}

    result: dict[str, Any] = await step.do("charge", charge)
    return result


workflows = {"approval": approval, "flaky": flaky}
