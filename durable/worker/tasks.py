"""The arq task and the worker's lifecycle hooks."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from typing import Any

from arq import Retry
from redis.exceptions import RedisError

from durable import children, observe, schedules
from durable.errors import ConfigurationError
from durable.runner import Runner
from durable.settings import Settings
from durable.store import Ref, Store
from durable.worker import observing
from durable.worker.claim import PUSH
from durable.workflow import Registry, load_registry

log = logging.getLogger("durable.worker")


async def durable_advance(ctx: dict[str, Any], workflow: str, instance_id: str) -> None:
    """Advance one instance (the job id names the pending wake-up it answers)."""
    runner: Runner = ctx["durable_runner"]
    try:
        await runner.advance(Ref(workflow, instance_id), ctx["job_id"])
    except (RedisError, OSError) as exc:
        log.warning("redis error advancing %s/%s, retrying: %s", workflow, instance_id, exc)
        raise Retry(defer=1) from exc


def _registry(ctx: dict[str, Any]) -> Registry:
    registry = ctx.get("durable_registry")
    if isinstance(registry, Registry):
        return registry
    path = os.environ.get("DURABLE_WORKFLOWS")
    if not path:
        raise ConfigurationError(
            "no workflows: set DURABLE_WORKFLOWS=module:attribute "
            "(or use durable worker --workflows)"
        )
    return load_registry(path)


async def on_startup(ctx: dict[str, Any]) -> None:
    settings = ctx.get("durable_settings") or Settings.from_env()
    registry = _registry(ctx)
    store = Store(ctx["redis"], settings)
    ctx["durable_runner"] = Runner(store, registry)
    previous = ctx.get("durable_housekeeping")
    if previous is not None:  # a restarted worker (after a lost Redis) reuses its ctx
        previous.cancel()
    if not ctx.get(PUSH):  # a durable worker's takes do the housekeeping; plain arq's do not
        if (await store.open()).count > 1:
            raise ConfigurationError(
                "arq's own worker polls one queue, and this deployment has "
                f"{store.layout.count} partitions: run `durable worker` instead"
            )
        ctx["durable_housekeeping"] = asyncio.create_task(housekeeping(store))
    observing.install(ctx)  # metrics (when served) and OpenTelemetry spans (when installed)
    if registry.schedules:
        await schedules.declare(registry, settings, ctx["redis"])
    banner = ctx.get("durable_banner")
    log.info(
        "durable worker ready: workflows %s%s",
        ", ".join(registry) or "(none)",
        f"; {banner}" if banner else "",
    )


async def on_shutdown(ctx: dict[str, Any]) -> None:
    task = ctx.get("durable_housekeeping")
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def housekeeping(store: Store) -> None:
    """Recover instances of dead workers and prune expired index entries, forever (under
    `arq durable.worker.WorkerSettings`: arq's own worker, which takes no work with durable's
    take script)."""
    interval = min(1.0, store.settings.lease_ttl_ms / 4000)
    delay = interval
    while True:
        await asyncio.sleep(delay)
        try:
            reaped = await store.reap()
        except (RedisError, OSError) as exc:
            delay = min(delay * 2, 10.0)
            log.warning("housekeeping could not reach redis, retrying in %.1fs: %s", delay, exc)
            continue
        delay = interval
        await children.carry(store, reaped.swept)
        if reaped.recovered:
            observe.get().leases_recovered(reaped.recovered)
            log.info("recovered %d instance(s) from expired leases", reaped.recovered)
        if reaped.expired:
            log.debug("pruned %d expired instance(s) from indexes", reaped.expired)
