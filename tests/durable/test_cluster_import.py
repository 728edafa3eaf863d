"""Moving from one Redis to a cluster, as docs/architecture.md says: repartition on the single
Redis, `redis-cli --cluster import` into the cluster, and the instances read and run on."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from durable import repartition
from durable.client import Client
from durable.settings import Settings
from tests.conftest import REDIS_URL
from tests.durable.test_repartition import FLOWS, populate, state
from tests.helpers import CLUSTER, PrivateRedis

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(not CLUSTER, reason="imports into the cluster of the cluster pass"),
]


@pytest.fixture
def single() -> Iterator[PrivateRedis]:
    server = PrivateRedis()
    server.start()
    yield server
    server.close()


def node_of(url: str) -> str:
    return url.split("//", 1)[1].rsplit("/", 1)[0]


async def test_repartition_then_cluster_import_moves_a_deployment_to_a_cluster(
    single: PrivateRedis, settings: Settings
) -> None:
    old = Client(FLOWS, replace(settings, redis_url=single.url))
    try:
        await populate(old)
        assert (await old.store.open()).count == 1
        expected: dict[str, Any] = await state(old)
        moved = await repartition.repartition(old.redis, settings.prefix, 48)
        assert moved.keys > 0
    finally:
        await old.aclose()

    cli = shutil.which("redis-cli")
    assert cli is not None
    subprocess.run(
        [cli, "--cluster", "import", node_of(REDIS_URL), "--cluster-from", node_of(single.url),
         "--cluster-copy"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip

    new = Client(FLOWS, settings)  # the suite's cluster
    try:
        assert (await new.store.open()).count == 48
        assert await state(new) == expected
        await new.send_event("waiter", "w2", type="go", payload="on the cluster")
        await new.tick(max_instances=50)
        assert (await new.get("waiter", "w2")).details.output == "on the cluster"
    finally:
        await new.aclose()
