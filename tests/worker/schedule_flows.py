"""Workflows and a declared schedule for the worker-process schedule tests."""

from __future__ import annotations

from typing import Any

from durable import Schedule, Workflow, workflow


@workflow("per-tick")
async def per_tick(event: Any, step: Any) -> Any:
    return await step.do("work", lambda: event.instance_id)


# every worker process makes sure it exists at start-up; catchup "all" so that the ticks of a
# ticker's recovery after a killed worker start too
every_second = Schedule("every-second", per_tick, every="1 s", catchup="all")

workflows: list[Workflow | Schedule] = [per_tick, every_second]
