"""arq settings for durable workers: `arq durable.worker.WorkerSettings` or `durable worker`."""

from __future__ import annotations

import json
import os
from typing import Any

from arq.connections import RedisSettings
from arq.worker import func
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError, TimeoutError

from durable import keys
from durable.settings import Settings
from durable.worker.tasks import durable_advance, on_shutdown, on_startup

DEFAULT_CONCURRENCY = 50


def redis_settings(url: str) -> RedisSettings:
    """Connection settings that ride out a Redis restart: commands retry with backoff."""
    settings = RedisSettings.from_dsn(url)
    settings.retry_on_error = [ConnectionError, TimeoutError]
    settings.retry = Retry(ExponentialBackoff(cap=2.0, base=0.05), retries=40)
    settings.conn_retries = 60
    settings.conn_retry_delay = 1
    return settings


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def build(
    settings: Settings, *, concurrency: int | None = None, burst: bool = False
) -> dict[str, Any]:
    """The keyword arguments of arq's Worker for these durable settings."""
    return {
        "functions": [func(durable_advance, name=keys.ADVANCE_FUNCTION, max_tries=1000)],
        "redis_settings": redis_settings(settings.redis_url),
        "queue_name": keys.queue_key(settings.prefix),
        "on_startup": on_startup,
        "on_shutdown": on_shutdown,
        "poll_delay": settings.poll_interval_ms / 1000,
        "max_jobs": concurrency or DEFAULT_CONCURRENCY,
        "job_timeout": settings.job_timeout_ms / 1000,
        "keep_result": 0,
        "job_serializer": _dumps,
        "job_deserializer": json.loads,
        "job_completion_wait": max(1, settings.shutdown_grace_ms // 1000),
        "burst": burst,
        "health_check_interval": 60,
        "ctx": {"durable_settings": settings},
    }


def _env_settings() -> Settings:
    return Settings.from_env()


class WorkerSettings:
    """For `arq durable.worker.WorkerSettings`; reads REDIS_URL, DURABLE_WORKFLOWS and DURABLE_*."""

    _s = _env_settings()
    functions = [func(durable_advance, name=keys.ADVANCE_FUNCTION, max_tries=1000)]
    redis_settings = redis_settings(_s.redis_url)
    queue_name = keys.queue_key(_s.prefix)
    on_startup = on_startup
    on_shutdown = on_shutdown
    poll_delay = _s.poll_interval_ms / 1000
    max_jobs = int(os.environ.get("DURABLE_CONCURRENCY", DEFAULT_CONCURRENCY))
    job_timeout = _s.job_timeout_ms / 1000
    keep_result = 0
    job_serializer = _dumps
    job_deserializer = json.loads
    job_completion_wait = max(1, _s.shutdown_grace_ms // 1000)
    health_check_interval = 60
