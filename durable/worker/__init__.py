"""arq integration: `arq durable.worker.WorkerSettings` or `durable worker --workflows MOD:ATTR`."""

from __future__ import annotations

import logging
import time
from typing import Any

from redis.exceptions import RedisError

from durable import logs, partitions
from durable.connectivity import describe_server, wait_for_redis
from durable.durations import to_ms
from durable.settings import Settings
from durable.worker import observing
from durable.worker.settings import WorkerSettings, build
from durable.workflow import load_registry

__all__ = ["WorkerSettings", "build", "run_worker"]

log = logging.getLogger("durable.worker")


def run_worker(
    workflows: str,
    *,
    redis_url: str | None = None,
    concurrency: int | None = None,
    burst: bool = False,
    lease_ttl: str | None = None,
    metrics_port: int | None = None,
    metrics_host: str | None = None,
) -> None:
    """Run an arq worker for the registry at `workflows` until SIGTERM/SIGINT (or burst end).

    At start it waits up to DURABLE_STARTUP_TIMEOUT for Redis to answer and raises
    RedisUnreachableError if it never does. Once started, arq's worker exits when its Redis
    connection breaks in certain places (a refused reconnect, a reset during the handshake);
    this process then starts a fresh arq worker with backoff, so a Redis restart never takes
    the worker down with it.

    With `metrics_port`, it serves its Prometheus metrics on that port (of `metrics_host`,
    default 127.0.0.1) and raises MetricsServerError if it cannot.
    """

    overrides: dict[str, object] = {}
    if redis_url:
        overrides["redis_url"] = redis_url
    if lease_ttl:
        overrides["lease_ttl_ms"] = to_ms(lease_ttl)
    settings = Settings.from_env(**overrides)
    registry = load_registry(workflows)
    options = build(settings, concurrency=concurrency, burst=burst)
    options["ctx"]["durable_registry"] = registry
    if metrics_port is not None:
        observing.serve_metrics(metrics_port, metrics_host)
        options["ctx"][observing.SERVING] = True
    if not logs.is_configured():
        logs.configure_from_env()
    info = wait_for_redis(settings.redis_url, settings.startup_timeout_ms)
    layout = partitions.verify_at_start(settings)  # PartitionsError: another P in Redis
    options["ctx"]["durable_banner"] = startup_banner(options, info, layout)
    run_until_stopped(options)
    log.info("durable worker stopped")


def startup_banner(
    options: dict[str, Any], info: dict[str, Any], layout: partitions.Layout | None = None
) -> str:
    """What arq's own start-up lines said (they are at INFO on a logger kept at WARNING)."""
    settings: Settings = options["ctx"]["durable_settings"]
    burst = ", burst" if options["burst"] else ""
    queue = f"queue {options['queue_name']}"
    if layout is not None and layout.count > 1:
        queue = f"{layout.count} partitions"
    cluster = " (a Redis Cluster node)" if str(info.get("cluster_enabled", "0")) == "1" else ""
    return (
        f"{queue}, concurrency {options['max_jobs']}{burst}; "
        f"Redis {describe_server(settings.redis_url, info)}{cluster}"
    )


def run_until_stopped(options: dict[str, Any]) -> None:
    from durable.worker import loops
    from durable.worker.claim import DurableWorker

    loops.install()
    delay = 0.25
    while True:
        try:
            DurableWorker(**options).run()
            return
        except (RedisError, OSError) as exc:
            log.warning("lost the connection to Redis (%s); restarting in %.2f s", exc, delay)
        time.sleep(delay)
        delay = min(delay * 2, 5.0)
