"""How the CLI renders child workflows: invoke steps in history and watch, an instance's parent."""

from __future__ import annotations

from durable.cli import render

WAITING = {
    "stepKey": "charge", "type": "invoke", "status": "waiting", "attempts": 0, "maxAttempts": 1,
    "child": {"workflow": "payment", "id": "o1:0:charge:abc"},
    "updatedAt": "2026-01-01T00:00:00.000Z",
}  # fmt: skip


def test_a_waiting_invoke_step_names_its_child() -> None:
    assert render.step_summary(WAITING) == (
        "charge (invoke, waiting), waiting for workflow payment/o1:0:charge:abc"
    )
    table = render.steps([WAITING])
    assert "waiting for child workflow payment/o1:0:charge:abc" in table


def test_a_child_instance_names_its_parent() -> None:
    data = {
        "id": "o1:0:charge:abc",
        "details": {"status": "running", "runNumber": 0},
        "meta": {"workflowName": "payment", "parent": {"workflow": "order", "id": "o1"}},
    }
    assert "Parent: workflow order/o1" in render.instance(data).splitlines()
