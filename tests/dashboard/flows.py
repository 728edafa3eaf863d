"""Workflows for the dashboard tests: `--workflows tests.dashboard.flows:workflows`."""

from __future__ import annotations

from typing import Any

from durable import NonRetryableError, StepContext, WorkflowEvent, workflow
from durable.step import Step


@workflow("order-approval")
async def order_approval(event: WorkflowEvent, step: Step) -> dict[str, Any]:
    """Price an order, wait for a human approval, then charge (the first charge attempt fails)."""
    order = event.payload or {}
    step.log.info("order received", {"orderId": order.get("orderId")})
    quote = await step.do("price", lambda: {"amount": order.get("amount", 0), "currency": "EUR"})
    decision = await step.wait_for_event("approval", type="approval", timeout="1 h")
    if not (decision.payload or {}).get("approved"):
        step.log.warn("order declined", decision.payload)
        return {"approved": False}
    cents = await step.patched("charge-in-cents")

    def charge(ctx: StepContext) -> dict[str, Any]:
        if ctx.attempt < 2:
            raise ConnectionError("payment gateway did not answer")
        amount = quote["amount"] * 100 if cents else quote["amount"]
        return {"charged": amount, "attempt": ctx.attempt}

    charged: dict[str, Any] = await step.do(
        "charge", charge, retries={"limit": 2, "delay": "50 ms"}
    )
    await step.sleep("settle", "50 ms")
    step.log.info("order charged", charged)
    return {"approved": True, **charged}


@workflow("nightly-report")
async def nightly_report(event: WorkflowEvent, step: Step) -> dict[str, Any]:
    """Fails for good unless its params say `ok`; retry-failed-step then has a step to retry."""
    params = event.payload or {}

    def fetch(ctx: StepContext) -> dict[str, Any]:
        if not params.get("ok"):
            raise NonRetryableError(params.get("reason") or "sales database refused the connection")
        return {"rows": 42}

    return await step.do("fetch-sales", fetch)  # type: ignore[no-any-return]


workflows = {"order-approval": order_approval, "nightly-report": nightly_report}
