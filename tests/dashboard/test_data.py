"""`Client.counts` and the dashboard's adapter over the Client (real Redis)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from durable.client import Client
from durable.dashboard.data import DashboardData, error_text
from durable.errors import WorkflowNotFoundError
from durable.models import ErrorInfo
from durable.types import Status
from tests.dashboard.flows import workflows
from tests.helpers import assert_eventually

ZERO = {status.value: 0 for status in Status}


async def test_counts_start_at_zero_for_every_status(
    client_factory: Callable[[Any], Client],
) -> None:
    client = client_factory(workflows)
    assert await client.counts("order-approval") == ZERO


async def test_counts_follow_the_status_indexes(client_factory: Callable[[Any], Client]) -> None:
    client = client_factory(workflows)
    for iid in ("a", "b", "c"):
        await client.create("order-approval", instance_id=iid)
    await client.pause("order-approval", "b")
    await client.terminate("order-approval", "c")
    assert await client.counts("order-approval") == {
        **ZERO,
        "queued": 1,
        "paused": 1,
        "terminated": 1,
    }
    assert await client.counts("nightly-report") == ZERO


async def test_counts_of_an_unknown_workflow_raise(client_factory: Callable[[Any], Client]) -> None:
    with pytest.raises(WorkflowNotFoundError):
        await client_factory(workflows).counts("nope")


async def test_the_adapter_reads_a_run_oldest_first(
    client_factory: Callable[[Any], Client],
) -> None:
    client = client_factory(workflows)
    data = DashboardData(client)
    await client.create("order-approval", instance_id="o1", params={"amount": 3})

    async def waiting() -> bool:
        await client.tick()
        return (await client.get("order-approval", "o1")).details.status == "waiting"

    await assert_eventually(waiting)
    view = await data.instance("order-approval", "o1", None)
    assert (view.status, view.params, view.terminal, view.viewing_current_run) == (
        "waiting",
        {"amount": 3},
        False,
        True,
    )
    assert [step.name for step in view.timeline.steps] == ["price", "approval"]
    assert view.timeline.steps[1].wait_event_type == "approval"
    assert [log.message for log in view.timeline.logs] == ["order received"]
    summaries = {wf.name: wf for wf in await data.workflows()}
    assert summaries["order-approval"].total == 1
    assert summaries["order-approval"].counts["waiting"] == 1
    assert summaries["nightly-report"].total == 0


def test_error_text_reads_name_and_message() -> None:
    assert error_text(ErrorInfo(name="RuntimeError", message="boom")) == "RuntimeError: boom"
    assert error_text(ErrorInfo(name="", message="boom")) == "boom"
    assert error_text(None) is None
