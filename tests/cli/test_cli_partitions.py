"""A service configured with partitions other than its Redis holds refuses to start, in one
line and before it serves anything: `durable worker`, `durable api` and `durable dev`."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from click.testing import CliRunner, Result

from durable.cli.main import cli
from durable.settings import Settings
from durable.store import Store
from tests.conftest import REDIS_URL
from tests.helpers import async_redis

pytestmark = pytest.mark.timeout(60)
FLOWS = "tests.cli.flows:workflows"


def stored_partitions(prefix: str) -> int:
    async def opened() -> int:
        redis = async_redis(REDIS_URL)
        try:
            return (await Store(redis, Settings(redis_url=REDIS_URL, prefix=prefix)).open()).count
        finally:
            await redis.aclose()

    return asyncio.run(opened())


def run(prefix: str, *args: str, **env: Any) -> Result:
    env = {"REDIS_URL": REDIS_URL, "DURABLE_PREFIX": prefix, **env}
    return CliRunner().invoke(cli, list(args), env=env, prog_name="durable")


@pytest.mark.parametrize(
    "command",
    [
        ("worker", "--workflows", FLOWS),
        ("api", "--workflows", FLOWS, "--port", "1"),
        ("dev", "--workflows", FLOWS, "--port", "1"),
    ],
    ids=["worker", "api", "dev"],
)
def test_a_service_with_other_partitions_refuses_to_start(
    prefix: str, command: tuple[str, ...]
) -> None:
    stored = stored_partitions(prefix)
    result = run(prefix, *command, DURABLE_PARTITIONS=str(stored + 1))
    assert result.exit_code == 2, result.output
    assert result.output.startswith(
        f"Error: DURABLE_PARTITIONS is {stored + 1} but Redis holds {stored} partition(s) "
        f"for prefix '{prefix}'"
    )
    assert result.output.count("\n") == 1 and "--help" not in result.output


def test_a_bad_partition_count_is_a_usage_error(prefix: str) -> None:
    result = run(prefix, "worker", "--workflows", FLOWS, DURABLE_PARTITIONS="0")
    assert result.exit_code == 2
    assert "DURABLE_PARTITIONS must be between 1 and 1024, got 0" in result.output
