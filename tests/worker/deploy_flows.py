"""Three deploys of the same workflows, for worker processes restarted between deploys.

`deploy_1`, `deploy_2` and `deploy_3` are registries (`tests.worker.deploy_flows:deploy_2`).
Side effects are counted in Redis under the test's prefix (tests.flows.count), so the counts
survive the worker processes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from durable import StepContext, workflow
from tests.flows import count


def counted(effect: str) -> Callable[[StepContext], Awaitable[int]]:
    async def fn(ctx: StepContext) -> int:
        return await count(ctx, effect)

    return fn


# -- order: deploy 2 renames a recorded step, deploy 3 puts the name back ----------------------


async def _order(step: Any, ship_step: str) -> Any:
    await step.do("charge", counted("charge"))
    await step.do(ship_step, counted("ship"))
    await step.wait_for_event("go", type="go", timeout="60 s")
    return await step.do("notify", counted("notify"))


@workflow("order", version="1")
async def order_1(event: Any, step: Any) -> Any:
    return await _order(step, "ship")


@workflow("order", version="2")
async def order_2(event: Any, step: Any) -> Any:
    return await _order(step, "dispatch")


@workflow("order", version="3")
async def order_3(event: Any, step: Any) -> Any:
    return await _order(step, "ship")


# -- receipts: deploy 2 patches a step and appends one, deploy 3 retires the patch ------------


@workflow("receipts", version="1")
async def receipts_1(event: Any, step: Any) -> Any:
    await step.do("pay", counted("pay"))
    await step.wait_for_event("go", type="go", timeout="60 s")
    receipt = await step.do("text", counted("text"))
    await step.wait_for_event("done", type="done", timeout="60 s")
    return {"receipt": receipt}


@workflow("receipts", version="2")
async def receipts_2(event: Any, step: Any) -> Any:
    await step.do("pay", counted("pay"))
    await step.wait_for_event("go", type="go", timeout="60 s")
    if await step.patched("pdf-receipt"):
        receipt = {"pdf": await step.do("pdf", counted("pdf"))}
    else:
        receipt = {"text": await step.do("text", counted("text"))}
    await step.wait_for_event("done", type="done", timeout="60 s")
    archived = await step.do("archive", counted("archive"))
    return {"receipt": receipt, "archived": archived}


@workflow("receipts", version="3")
async def receipts_3(event: Any, step: Any) -> Any:
    await step.do("pay", counted("pay"))
    await step.wait_for_event("go", type="go", timeout="60 s")
    step.deprecate_patch("pdf-receipt")
    receipt = {"pdf": await step.do("pdf", counted("pdf"))}
    await step.wait_for_event("done", type="done", timeout="60 s")
    archived = await step.do("archive", counted("archive"))
    return {"receipt": receipt, "archived": archived}


# -- fan: deploy 2 renames one member of a gather ----------------------------------------------


async def _fan(step: Any, names: list[str]) -> Any:
    results = await asyncio.gather(*(step.do(name, counted(name)) for name in names))
    await step.wait_for_event("go", type="go", timeout="60 s")
    return results


@workflow("fan", version="1")
async def fan_1(event: Any, step: Any) -> Any:
    return await _fan(step, ["a", "b", "c"])


@workflow("fan", version="2")
async def fan_2(event: Any, step: Any) -> Any:
    return await _fan(step, ["a", "b2", "c"])


deploy_1 = [order_1, receipts_1, fan_1]
deploy_2 = [order_2, receipts_2, fan_2]
deploy_3 = [order_3, receipts_3, fan_2]
