"""A worker's script calls on a Redis Cluster: pipelined on one connection per node, each to the
node of its keys' slot; a call sent to the wrong node (its slot moved) goes through the cluster
client, which follows the redirect (durable/worker/pipelining.py, NodePipelines)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from redis.asyncio.cluster import RedisCluster

from durable.replies import Taken
from durable.settings import Settings
from durable.store import Ref, Store
from durable.worker.pipelining import NodePipelines
from tests.helpers import CLUSTER

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(not CLUSTER, reason="a cluster's nodes: runs on the cluster pass"),
]


@pytest.fixture
async def store(redis: Any, settings: Settings) -> Store:
    opened = Store(redis, settings)
    await opened.open()
    return opened


async def test_calls_go_pipelined_to_the_node_of_their_slot(store: Store) -> None:
    cluster = store.redis
    assert isinstance(cluster, RedisCluster)
    pipes = NodePipelines(cluster, "test")
    store.caller = pipes.call
    try:
        refs = [Ref("wf", f"i{n}") for n in range(24)]
        await asyncio.gather(*(store.create(ref, params="{}") for ref in refs))
        # the instances spread over the partitions, and so over all three nodes
        assert len(pipes.pipes) == 3 and pipes.rerouted == 0
        await asyncio.gather(*(store.read(ref) for ref in refs))  # loads the read script
        before = sum(pipe.calls for pipe in pipes.pipes.values())
        reads = await asyncio.gather(*(store.read(ref) for ref in refs))
        assert all(read is not None for read in reads)
        # each read one call on its node's connection (its script loaded by now)
        assert sum(pipe.calls for pipe in pipes.pipes.values()) - before == len(refs)
        assert pipes.rerouted == 0
    finally:
        store.caller = None
        await pipes.close()


async def test_a_call_sent_to_the_wrong_node_follows_the_redirect(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    cluster = store.redis
    assert isinstance(cluster, RedisCluster)
    ref = Ref("wf", "moved")
    await store.create(ref, params="{}")
    right = cluster.get_node_from_key(f"{store.space(ref)}:x")
    wrong = next(node for node in cluster.get_primaries() if node.name != right.name)
    pipes = NodePipelines(cluster, "test")
    monkeypatch.setattr(cluster, "get_node_from_key", lambda *args, **kwargs: wrong)
    store.caller = pipes.call
    try:
        found = await store.take(
            owner="w", ttl_ms=5000, token="t", count=1, ahead_ms=0,
            partition=store.layout.partition_of(ref.workflow, ref.instance_id),
        )  # fmt: skip
    finally:
        store.caller = None
        await pipes.close()
    assert isinstance(found, Taken) and found.leases[0].instance_id == "moved"
    assert pipes.rerouted == 1  # the wrong node answered MOVED; the cluster client carried it
