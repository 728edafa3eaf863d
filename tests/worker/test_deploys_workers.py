"""Deploys with real worker processes: instances started on one deploy's code are advanced by
workers restarted on the next (tests/worker/deploy_flows.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from durable.client import Client
from durable.settings import Settings
from tests.conftest import REDIS_URL
from tests.helpers import as_json, assert_eventually
from tests.worker import deploy_flows
from tests.worker.conftest import counter

pytestmark = pytest.mark.timeout(120)
ROOT = Path(__file__).resolve().parents[2]


class Deploys:
    """One worker process at a time, running the registry of the current deploy."""

    def __init__(self, prefix: str, logs: Path) -> None:
        self.prefix = prefix
        self.logs = logs
        self.proc: subprocess.Popen[bytes] | None = None

    def roll_out(self, number: int) -> None:
        self.stop()
        env = {
            **os.environ,
            "REDIS_URL": REDIS_URL,
            "DURABLE_PREFIX": self.prefix,
            "DURABLE_SHUTDOWN_GRACE": "5 s",
            "PYTHONPATH": str(ROOT),
        }
        code = (
            "from durable.worker import run_worker; "
            f"run_worker('tests.worker.deploy_flows:deploy_{number}', lease_ttl='2 s')"
        )
        with (self.logs / f"deploy-{number}.log").open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", code], env=env, cwd=ROOT, stdout=log, stderr=log
            )

    def stop(self) -> None:
        """A graceful stop, so no worker of the previous deploy is left to take a job."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None


@pytest.fixture
def deploys(prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Deploys]:
    monkeypatch.setenv("DURABLE_PREFIX", prefix)  # tests.flows.counter_key reads it
    group = Deploys(prefix, tmp_path)
    yield group
    group.stop()


@pytest.fixture
async def clients(settings: Settings) -> AsyncIterator[list[Client]]:
    """A client per deploy: each creates instances stamped with its deploy's version."""
    made = [
        Client(registry, settings)
        for registry in (deploy_flows.deploy_1, deploy_flows.deploy_2, deploy_flows.deploy_3)
    ]
    yield made
    for client in made:
        await client.aclose()


async def reaches(client: Client, wf: str, iid: str, *statuses: str, key: str = "") -> Any:
    async def check() -> Any:
        got = await client.get(wf, iid)
        current = got.meta.current_step.step_key if got.meta.current_step else None
        return got if got.details.status in statuses and key in ("", current) else None

    return await assert_eventually(check, 30)


async def ended(client: Client, wf: str, iid: str) -> Any:
    return await reaches(client, wf, iid, "complete", "errored", "terminated")


async def test_a_rename_errors_and_a_fixed_deploy_finishes_the_run(
    deploys: Deploys, clients: list[Client], redis: Redis
) -> None:
    first, _, third = clients
    deploys.roll_out(1)
    await first.create("order", instance_id="o1")
    await reaches(first, "order", "o1", "waiting")
    deploys.roll_out(2)  # renames the recorded step "ship" to "dispatch"
    await first.send_event("order", "o1", type="go")
    got = await ended(first, "order", "o1")
    assert as_json(got.details.error)["name"] == "NondeterminismError"
    assert "'dispatch'" in as_json(got.details.error)["message"]
    assert "'ship'" in as_json(got.details.error)["message"]
    assert await counter(redis, "o1", "ship") == 1  # the renamed step did not run again
    deploys.roll_out(3)  # the fix
    answer = await third.retry_failed_step("order", "o1")
    assert answer.retry.replay is True
    done = await ended(third, "order", "o1")
    assert done.details.status == "complete"
    assert [await counter(redis, "o1", name) for name in ("charge", "ship", "notify")] == [1, 1, 1]
    assert done.meta.version == "1"


async def test_patches_keep_old_runs_on_their_path_across_three_deploys(
    deploys: Deploys, clients: list[Client], redis: Redis
) -> None:
    first, second, third = clients
    deploys.roll_out(1)
    for iid in ("past", "before"):
        await first.create("receipts", instance_id=iid)
    await first.send_event("receipts", "past", type="go")
    await reaches(first, "receipts", "past", "waiting", key="done")  # past the patch point
    await reaches(first, "receipts", "before", "waiting", key="go")  # not there yet

    deploys.roll_out(2)  # patched("pdf-receipt") and an appended "archive" step
    await second.create("receipts", instance_id="new")
    for iid, event in (("past", "done"), ("before", "go"), ("new", "go")):
        await second.send_event("receipts", iid, type=event)
    past = await ended(second, "receipts", "past")
    assert past.details.output == {"receipt": {"text": 1}, "archived": 1}
    for iid in ("before", "new"):
        await reaches(second, "receipts", iid, "waiting", key="done")
    page = await second.list_instances("receipts", version="1", status="waiting")
    assert [item.id for item in page.instances] == ["before"]

    deploys.roll_out(3)  # the patch retired with deprecate_patch
    for iid in ("before", "new"):
        await third.send_event("receipts", iid, type="done")
        got = await ended(third, "receipts", iid)
        assert got.details.output["receipt"] == {"pdf": 1}
    assert await counter(redis, "past", "text") == 1 and await counter(redis, "past", "pdf") == 0
    history = await third.history("receipts", "before", order="asc")
    marker = history.steps[2]
    assert (marker.step_key, marker.type) == ("pdf-receipt#patch", "patch")


async def test_a_renamed_gather_member_does_not_run(
    deploys: Deploys, clients: list[Client], redis: Redis
) -> None:
    first = clients[0]
    deploys.roll_out(1)
    await first.create("fan", instance_id="f1")
    await reaches(first, "fan", "f1", "waiting")
    deploys.roll_out(2)
    await first.send_event("fan", "f1", type="go")
    got = await ended(first, "fan", "f1")
    assert as_json(got.details.error)["name"] == "NondeterminismError"
    assert "'b2'" in as_json(got.details.error)["message"]
    counts = [await counter(redis, "f1", name) for name in ("a", "b", "c", "b2")]
    assert counts == [1, 1, 1, 0]
