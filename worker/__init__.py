"""arq integration: `arq worker.WorkerSettings`, or `durable worker --workflows MOD:ATTR`."""

from __future__ import annotations

import logging

from durable.durations import to_ms
from durable.settings import Settings
from durable.workflow import load_registry
from worker.settings import WorkerSettings, build

__all__ = ["WorkerSettings", "build", "run_worker"]


def run_worker(
    workflows: str,
    *,
    redis_url: str | None = None,
    concurrency: int | None = None,
    burst: bool = False,
    lease_ttl: str | None = None,
) -> None:
    """Run an arq worker for the registry at `workflows` until SIGTERM/SIGINT (or burst end)."""
    from arq.worker import run_worker as arq_run_worker

    overrides: dict[str, object] = {}
    if redis_url:
        overrides["redis_url"] = redis_url
    if lease_ttl:
        overrides["lease_ttl_ms"] = to_ms(lease_ttl)
    settings = Settings.from_env(**overrides)
    registry = load_registry(workflows)
    options = build(settings, concurrency=concurrency, burst=burst)
    options["ctx"]["durable_registry"] = registry
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    arq_run_worker(options)
