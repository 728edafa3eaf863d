"""The example gallery: `durable dev --workflows examples.gallery:workflows`."""

from __future__ import annotations

import random
from typing import Any

from pydantic import BaseModel

from durable import NonRetryableError, Retries, StepContext, WorkflowEvent, workflow
from durable.step import Step


@workflow("approval-workflow")
async def approval(event: WorkflowEvent, step: Step) -> dict[str, Any]:
    """Wait for a human approval (or time out), cool down, then charge with retries.

    The README's first example; tests/packaging/test_user_docs.py keeps the two the same.
    """
    decision = await step.wait_for_event("approval", type="approval", timeout="15 min")
    if not (decision.payload or {}).get("approved"):
        return {"approved": False}
    await step.sleep("cooldown", "2 s")
    charge = await step.do(
        "charge",
        lambda: {"charged": event.payload.get("amount", 0)},
        retries={"limit": 3, "delay": "1 s", "backoff": "exponential"},
    )
    return {"approved": True, **charge}


@workflow("retry-workflow")
async def retry(event: WorkflowEvent, step: Step) -> dict[str, Any]:
    """A flaky step retried with constant backoff."""

    def flaky(ctx: StepContext) -> dict[str, Any]:
        if random.random() < 0.5 and ctx.attempt < 4:
            raise RuntimeError("RETRY_ME")
        return {"ok": True, "attempt": ctx.attempt}

    return await step.do("retry-step", flaky, retries={"limit": 3, "delay": "40 ms"})  # type: ignore[no-any-return]


class OnboardingParams(BaseModel):
    email: str
    plan: str = "free"


@workflow("customer-onboarding", params=OnboardingParams)
async def onboarding(event: WorkflowEvent, step: Step) -> dict[str, Any]:
    """Create an account, wait for the customer to verify their email, then welcome them."""
    params: OnboardingParams = event.payload
    account = await step.do(
        "create-account",
        lambda: {"accountId": f"acct_{event.instance_id[-8:]}", "email": params.email},
        retries=Retries(limit=3, delay="1 s", backoff="exponential"),
    )
    step.log.info("account created", account)
    verified = await step.wait_for_event("email-verified", type="email.verified", timeout="1 h")
    if params.plan not in ("free", "pro"):
        raise NonRetryableError(f"unknown plan {params.plan!r}")
    await step.do("send-welcome", lambda: {"sent": True, "to": params.email})
    return {"account": account, "verifiedAt": verified.timestamp.isoformat(), "plan": params.plan}


workflows = {
    "approval": approval,
    "retry": retry,
    "onboarding": onboarding,
}
