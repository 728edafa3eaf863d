"""Reading Prometheus text in the tests."""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from durable.client import Client

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(text: str) -> Samples:
    """Every sample of a Prometheus text page: (name, labels) -> value."""
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(found: Samples, name: str, **labels: str) -> float | None:
    return found.get((name, frozenset(labels.items())))


def names(found: Samples) -> set[str]:
    return {name for name, _ in found}


def as_json(answer: Any) -> dict[str, Any]:
    """A Client answer in the HTTP API's JSON shape (a pydantic model is dumped as served)."""
    dump = getattr(answer, "model_dump", None)
    return dict(dump(mode="json", by_alias=True) if dump is not None else answer)


async def final(client: Client, workflow: str, instance_id: str) -> dict[str, Any]:
    """The instance once it has ended (complete, errored or terminated), as JSON."""
    done = await client.wait(workflow, instance_id, timeout="30 s", poll_interval="10 ms")
    return as_json(done)


async def status(client: Client, workflow: str, instance_id: str) -> str:
    found: str = as_json(await client.get(workflow, instance_id))["details"]["status"]
    return found
