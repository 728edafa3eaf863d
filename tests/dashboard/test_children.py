"""The dashboard's instance page links an invoke step to its child and a child to its parent."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from durable import workflow
from durable.api import create_app
from durable.settings import Settings
from tests.dashboard.support import DashboardClient, create, run_until


@workflow("dash-kid")
async def kid(event: Any, step: Any) -> Any:
    await step.wait_for_event("hold", type="go", timeout="1 h")


@workflow("dash-mom")
async def mom(event: Any, step: Any) -> Any:
    return await step.invoke("child", workflow="dash-kid", id="k1")


@pytest.fixture
def http(settings: Settings) -> Iterator[DashboardClient]:
    app = create_app(replace(settings, enable_runner_tick=True), workflows=[kid, mom])
    with DashboardClient(app) as client:
        yield client


def test_parent_and_child_link_to_each_other(http: DashboardClient) -> None:
    create(http, "dash-mom", "m1")
    run_until(http, "dash-mom", "m1", "waiting")
    run_until(http, "dash-kid", "k1", "waiting")
    parent = http.get("/dashboard/dash-mom/m1")
    assert parent.status_code == 200
    assert 'Waits for child <a class="mono" href="/dashboard/dash-kid/k1">dash-kid/k1</a>' in (
        parent.text
    )
    child = http.get("/dashboard/dash-kid/k1")
    assert '<a class="mono" href="/dashboard/dash-mom/m1">dash-mom/m1</a>' in child.text
