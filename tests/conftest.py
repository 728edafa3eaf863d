"""Shared fixtures. Every test gets its own key prefix on a real Redis; nothing is flushed.

With DURABLE_TEST_REDIS=cluster (scripts/test's second pass) REDIS_URL is a node of a Redis
Cluster: the clients here are cluster clients, durable finds the cluster by itself, and tests
that need a Redis of their own (`private_redis`) or one Redis (`single_node`) are skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from arq.worker import Worker
from redis.asyncio import Redis

from durable.client import Client
from durable.settings import Settings
from durable.worker.claim import DurableWorker
from durable.worker.settings import build
from durable.workflow import RegistryLike, as_registry
from tests.helpers import CLUSTER, PrivateRedis, assert_eventually, async_redis, sync_redis

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
# The `client_factory` fixture: a Client over the test's settings for the given workflows.
ClientFactory = Callable[[RegistryLike], Client]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "single_node: needs one Redis, not a cluster (skipped on the cluster pass)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not CLUSTER:
        return
    own = pytest.mark.skip(reason="runs on a Redis of its own: covered by the single-node pass")
    one = pytest.mark.skip(reason="needs one Redis, not a cluster")
    for item in items:
        if "private_redis" in getattr(item, "fixturenames", ()):
            item.add_marker(own)
        elif item.get_closest_marker("single_node"):
            item.add_marker(one)


def delete_prefix(prefix: str) -> None:
    conn = sync_redis(REDIS_URL)
    try:
        for pattern in (f"{prefix}:*", f"arq:*{prefix}:*"):
            batch = list(conn.scan_iter(match=pattern, count=1000))
            for start in range(0, len(batch), 500):
                conn.delete(*batch[start : start + 500])
    finally:
        conn.close()


@pytest.fixture
def prefix() -> Iterator[str]:
    value = f"t{uuid.uuid4().hex[:12]}"
    yield value
    delete_prefix(value)


@pytest.fixture
def settings(prefix: str) -> Settings:
    return Settings(redis_url=REDIS_URL, prefix=prefix, lease_ttl_ms=2000, poll_interval_ms=5)


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    """A client of the suite's Redis (typed as the single-node one; on the cluster pass it is
    redis-py's cluster client, whose commands are the same)."""
    conn = async_redis(REDIS_URL)
    yield conn
    await conn.aclose()


@pytest.fixture
def private_redis(request: pytest.FixtureRequest) -> Iterator[PrivateRedis]:
    """A started redis-server of the test's own, for tests that stop, freeze or restart it.

    Extra server options come by indirect parametrization:
    `@pytest.mark.parametrize("private_redis", [("--requirepass", "pw")], indirect=True)`.
    """
    server = PrivateRedis(*getattr(request, "param", ()))
    server.start()
    yield server
    server.close()


@pytest.fixture
def eventually() -> Callable[..., Any]:
    return assert_eventually


class WorkerPool:
    """In-process arq workers (one event loop, as many Worker objects as asked)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.workers: list[tuple[Worker, asyncio.Task[Any]]] = []

    async def start(self, workflows: RegistryLike, count: int = 1, **overrides: Any) -> None:
        for _ in range(count):
            options = build(self.settings)
            options["ctx"]["durable_registry"] = as_registry(workflows)
            options.update(handle_signals=False, **overrides)
            worker = DurableWorker(**options)
            self.workers.append((worker, asyncio.ensure_future(worker.async_run())))

    async def stop(self) -> None:
        for worker, task in self.workers:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await worker.close()
        self.workers.clear()


@pytest.fixture
async def workers(settings: Settings) -> AsyncIterator[WorkerPool]:
    pool = WorkerPool(settings)
    yield pool
    await pool.stop()


@pytest.fixture
async def client_factory(settings: Settings) -> AsyncIterator[ClientFactory]:
    made: list[Client] = []

    def make(workflows: RegistryLike) -> Client:
        client = Client(workflows, settings)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.aclose()
