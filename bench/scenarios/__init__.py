"""The scenarios, by the name `--scenario` takes, in the order a full run uses."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from bench.harness import Bench
from bench.report import Metric
from bench.scenarios import create, events, idle, memory, partitions, scale, throughput, timers

Scenario = Callable[[Bench], Awaitable[list[Metric]]]

SCENARIOS: dict[str, Scenario] = {
    "throughput": throughput.run,
    "events": events.run,
    "timers": timers.run,
    "memory": memory.run,
    "scale": scale.run,
    "create": create.run,
    "idle": idle.run,
    "partitions": partitions.run,
}
