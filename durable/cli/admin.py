"""`durable admin`: offline maintenance of a deployment's Redis, run with every worker stopped.

Unlike the admin commands over HTTP, these open Redis themselves (REDIS_URL or --redis-url,
DURABLE_PREFIX): they change how the data is laid out, which no API call does.
"""

from __future__ import annotations

import asyncio

import click

from durable.cli.command import DurableGroup
from durable.cli.services import ServiceFailed, configuration_errors, redis_url_option
from durable.errors import PartitionsError
from durable.settings import MAX_PARTITIONS, Settings


@click.group(cls=DurableGroup)
def admin() -> None:
    """Offline maintenance of a deployment's Redis (stop every worker first)."""


@admin.command("repartition")
@click.option(
    "--partitions",
    "count",
    type=click.IntRange(1, MAX_PARTITIONS),
    required=True,
    help="The number of partitions to move to (48 suits 1-4, 6, 8, 12 or 16 cluster primaries).",
)
@redis_url_option
def repartition_command(count: int, redis_url: str | None) -> None:
    """Move every instance of the deployment (DURABLE_PREFIX) to COUNT partitions.

    Refuses while workers are running. Safe to interrupt: run it again with the same
    --partitions to finish; API servers and workers refuse to start until it has."""
    with configuration_errors():
        settings = Settings.from_env(**({"redis_url": redis_url} if redis_url else {}))
        from durable.connectivity import wait_for_redis

        wait_for_redis(settings.redis_url, settings.startup_timeout_ms)
    try:
        asyncio.run(_repartition(settings, count))
    except PartitionsError as exc:
        raise ServiceFailed(str(exc)) from exc


async def _repartition(settings: Settings, count: int) -> None:
    from durable import cluster
    from durable.repartition import repartition

    redis = await cluster.connect_any(settings.redis_url)
    try:
        await repartition(redis, settings.prefix, count, report=click.echo)
    finally:
        await redis.aclose()
