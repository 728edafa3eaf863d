"""Listing and counting across partitions: one page merges the partitions' indexes newest
first behind the same opaque cursor, and counts sum over them (P = 4 on one Redis, and the
default layout of whichever Redis the suite runs on)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest

from durable import keys, workflow
from durable.client import Client
from durable.models import InstancePage
from durable.settings import Settings
from tests.helpers import iso_ms

pytestmark = pytest.mark.timeout(60)


@workflow("spread", version="v2")
async def spread(event: Any, step: Any) -> Any:
    return None


@workflow("other")
async def other(event: Any, step: Any) -> Any:
    return None


@pytest.fixture(params=[4, None], ids=["P=4", "default"])
async def client(request: pytest.FixtureRequest, settings: Settings) -> AsyncIterator[Client]:
    c = Client([spread, other], replace(settings, partitions=request.param))
    yield c
    await c.aclose()


async def walk(client: Client, size: int, **query: Any) -> list[InstancePage]:
    pages = [await client.list_instances("spread", page_size=size, **query)]
    while pages[-1].has_next_page:
        cursor = pages[-1].next_cursor
        pages.append(await client.list_instances("spread", page_size=size, cursor=cursor, **query))
        assert len(pages) < 100
    return pages


async def newest_first(client: Client, ids: list[str]) -> list[str]:
    """The ids in listing order: creation time descending, then id descending."""
    created = {iid: iso_ms((await client.get("spread", iid)).meta.created_at) for iid in ids}
    return sorted(ids, key=lambda iid: (created[iid], iid), reverse=True)


async def make(client: Client, count: int) -> list[str]:
    # a batch: many instances created within the same millisecond (ties on the score)
    items: list[dict[str, Any]] = [{"id": f"b{n:03d}"} for n in range(count)]
    made = await client.create_batch("spread", items)
    for n in range(5):
        await client.create("spread", instance_id=f"s{n}")
    return [m.id for m in made] + [f"s{n}" for n in range(5)]


async def test_the_instances_land_in_several_partitions(client: Client) -> None:
    ids = await make(client, 40)
    layout = await client.store.open()
    used = {layout.partition_of("spread", iid) for iid in ids}
    assert len(used) >= min(layout.count, 4)
    for iid in ids:
        space = layout.space_of("spread", iid)
        assert await client.redis.exists(keys.instance_key(space, "spread", iid)) == 1


@pytest.mark.parametrize("size", [1, 3, 7, 25, 100])
async def test_pages_merge_the_partitions_newest_first(client: Client, size: int) -> None:
    ids = await make(client, 40)
    pages = await walk(client, size)
    listed = [inst.id for page in pages for inst in page.instances]
    assert listed == await newest_first(client, ids)
    assert all(len(page.instances) == size for page in pages[:-1])
    assert not pages[-1].has_next_page and pages[-1].next_cursor is None


async def test_status_and_version_filters_merge_too(client: Client) -> None:
    ids = await make(client, 30)
    await client.create("other", instance_id="not-listed")
    paused = [iid for iid in ids if iid.endswith(("1", "5"))]
    for iid in paused:
        await client.pause("spread", iid)
    listed = [i.id for p in await walk(client, 4, status="paused") for i in p.instances]
    assert listed == await newest_first(client, paused)
    queued = [i.id for p in await walk(client, 6, status="queued") for i in p.instances]
    assert queued == await newest_first(client, [i for i in ids if i not in paused])
    versioned = [i.id for p in await walk(client, 9, version="v2") for i in p.instances]
    assert versioned == await newest_first(client, ids)
    assert [p.instances for p in await walk(client, 5, version="v1")] == [[]]


async def test_counts_and_queue_depth_sum_over_the_partitions(client: Client) -> None:
    ids = await make(client, 20)
    for iid in ids[:3]:
        await client.pause("spread", iid)
    counts = await client.counts("spread")
    assert counts["queued"] == len(ids) - 3 and counts["paused"] == 3
    assert sum(counts.values()) == len(ids)
    everything = await client.counts_by_workflow()
    assert everything["spread"] == counts and sum(everything["other"].values()) == 0
    depth = await client.queue_depth()
    assert depth.due == len(ids) - 3 and depth.scheduled == 0
