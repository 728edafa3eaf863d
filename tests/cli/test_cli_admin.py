"""`durable admin repartition`: moves a deployment to N partitions, says what it did, and
refuses in one line while workers run."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from click.testing import CliRunner, Result

from durable import membership, partitions, workflow
from durable.cli.main import cli
from durable.client import Client
from durable.settings import Settings
from tests.conftest import REDIS_URL
from tests.helpers import async_redis

pytestmark = pytest.mark.timeout(60)


@workflow("admin-flow")
async def flow(event: Any, step: Any) -> Any:
    return None


def run(prefix: str, *args: str) -> Result:
    env = {"REDIS_URL": REDIS_URL, "DURABLE_PREFIX": prefix}
    return CliRunner().invoke(cli, ["admin", *args], env=env, prog_name="durable")


def stored(prefix: str) -> dict[str, str]:
    async def read() -> dict[str, str]:
        redis = async_redis(REDIS_URL)
        try:
            return await partitions.read_meta(redis, prefix)
        finally:
            await redis.aclose()

    return asyncio.run(read())


def create(prefix: str, *ids: str) -> int:
    """Create instances; answer the partitions the deployment has."""

    async def made() -> int:
        client = Client([flow], Settings(redis_url=REDIS_URL, prefix=prefix))
        try:
            for iid in ids:
                await client.create("admin-flow", instance_id=iid)
            return (await client.store.open()).count
        finally:
            await client.aclose()

    return asyncio.run(made())


def test_repartition_moves_the_deployment_and_says_so(prefix: str) -> None:
    before = create(prefix, "a", "b", "c")
    target = 4 if before != 4 else 8
    result = run(prefix, "repartition", "--partitions", str(target))
    assert result.exit_code == 0, result.output
    assert f"moving prefix '{prefix}' from {before} to {target} partition(s)" in result.output
    assert "done: " in result.output and "index entries moved" in result.output
    assert stored(prefix)["partitions"] == str(target)
    again = run(prefix, "repartition", "--partitions", str(target))
    assert again.exit_code == 0 and "nothing to do" in again.output


def test_repartition_refuses_in_one_line_while_a_worker_runs(prefix: str) -> None:
    before = create(prefix, "a")

    async def register() -> None:
        redis = async_redis(REDIS_URL)
        try:
            await membership.heartbeat(redis, prefix, "box:42#w", 60_000)
        finally:
            await redis.aclose()

    asyncio.run(register())
    result = run(prefix, "repartition", "--partitions", str(before + 1))
    assert result.exit_code == 1
    assert result.output.startswith("Error: 1 worker(s) of prefix")
    assert result.output.count("\n") == 1 and "Traceback" not in result.output
    assert stored(prefix)["partitions"] == str(before)


@pytest.mark.parametrize("value", ["0", "x", "5000"])
def test_repartition_needs_a_sensible_count(prefix: str, value: str) -> None:
    result = run(prefix, "repartition", "--partitions", value)
    assert result.exit_code == 2
    assert result.output.startswith("Error: ") and result.output.count("\n") == 1
