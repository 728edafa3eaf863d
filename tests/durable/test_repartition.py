"""durable admin repartition's engine: every instance, index entry, lease, retention deadline
and pending job moves to its partition under the new layout; instances read and run as before;
an interrupted run finishes when run again; live workers and a move under way are refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
from redis.asyncio import Redis

from durable import keys, membership, partitions, repartition, workflow
from durable.client import Client
from durable.errors import PartitionsError
from durable.partitions import Layout
from durable.settings import Settings
from tests.helpers import CLUSTER, reply

pytestmark = pytest.mark.timeout(90)


@workflow("sleeper")
async def sleeper(event: Any, step: Any) -> Any:
    await step.do("a", lambda: 1)
    await step.sleep("nap", "1 h")
    return "woke"


@workflow("waiter", version="v1")
async def waiter(event: Any, step: Any) -> Any:
    got = await step.wait_for_event("go", type="go", timeout="1 h")
    return got.payload


@workflow("quick")
async def quick(event: Any, step: Any) -> Any:
    step.log.info("quick one")
    return event.params


FLOWS = [sleeper, waiter, quick]


@pytest.fixture
async def clients(settings: Settings) -> AsyncIterator[list[Client]]:
    made: list[Client] = []
    yield made
    for client in made:
        await client.aclose()


def client_for(clients: list[Client], settings: Settings, count: int | None = None) -> Client:
    client = Client(FLOWS, replace(settings, partitions=count))
    clients.append(client)
    return client


async def populate(client: Client) -> None:
    """Instances in every state: waiting on a timer and on an event, complete (retention
    running), paused, queued, restarted with an idempotency key, with events and logs."""
    for n in range(6):
        await client.create("sleeper", instance_id=f"s{n}")
        await client.create("waiter", instance_id=f"w{n}")
        await client.create("quick", instance_id=f"q{n}", params={"n": n})
    await client.send_event("waiter", "w0", type="other", payload=[1], event_id="e-w0")
    while await client.tick(max_instances=50):
        pass
    await client.create("quick", instance_id="paused")
    await client.pause("quick", "paused")
    await client.create("quick", instance_id="queued")
    await client.restart("quick", "q1", idempotency_key="again")
    await client.create("sleeper", instance_id="to-finish")


async def state(client: Client) -> dict[str, Any]:
    """What the Client answers about every instance: the thing a repartition must keep."""
    out: dict[str, Any] = {}
    for wf in ("sleeper", "waiter", "quick"):
        page = await client.list_instances(wf, page_size=100)
        out[wf] = [i.id for i in page.instances]
        out[f"{wf} counts"] = await client.counts(wf)
        for inst in page.instances:
            got = await client.get(wf, inst.id)
            history = await client.history(wf, inst.id, include_logs=True, page_size=100)
            out[f"{wf}/{inst.id}"] = (got.model_dump(), history.model_dump())
    versioned = await client.list_instances("waiter", version="v1")
    out["versioned"] = [i.id for i in versioned.instances]
    out["queue"] = (await client.queue_depth(now_ms=2**50)).model_dump()
    return out


async def every_key(redis: Redis, prefix: str) -> list[str]:
    found = []
    for pattern in (f"{prefix}:*", f"arq:*{prefix}:*"):
        found += [k.decode() async for k in redis.scan_iter(match=pattern, count=1000)]
    return found


async def assert_in_place(redis: Redis, layout: Layout) -> None:
    """Every key, set member and job id of the deployment sits in its instance's partition."""
    for key in await every_key(redis, layout.prefix):
        parsed = keys.parse(layout.prefix, key)
        assert parsed is not None, key
        space, kind, params = parsed
        if kind in ("meta", "workers"):
            continue
        assert space in layout.spaces(), key
        if kind in ("instance", "steps", "events", "logs", "event_ids", "idempotency"):
            assert layout.space_of(params[0], params[1]) == space, key
            if kind == "instance":
                job = await reply(redis.hget(key, "job"))
                if job:
                    assert (
                        keys.partition_prefix(
                            layout.prefix, keys.partition_tag_of(layout.prefix, job.decode())
                        )
                        == space
                    )
        elif kind in ("leases", "expiry", "queue"):
            for member in await redis.zrange(key, 0, -1):
                text = member.decode()
                wf_iid = keys.parse_job_id(layout.prefix, text) if kind == "queue" else None
                wf, iid = wf_iid or keys.split_tag(text)
                assert layout.space_of(wf, iid) == space, (key, text)
        elif kind in ("workflow_index", "status_index", "version_index", "version_status_index"):
            for member in await redis.zrange(key, 0, -1):
                assert layout.space_of(params[0], member.decode()) == space, (key, member)


def other_count(current: int) -> int:
    return 4 if current != 4 else 8


async def test_a_repartition_moves_everything_and_instances_carry_on(
    settings: Settings, redis: Redis, clients: list[Client]
) -> None:
    before = client_for(clients, settings)
    await populate(before)
    old = await before.store.open()
    expected = await state(before)
    target = other_count(old.count)

    moved = await repartition.repartition(redis, settings.prefix, target)
    assert moved.keys > 0 and moved.entries > 0 and moved.unknown == []
    new = Layout.spread(settings.prefix, target)
    assert await partitions.read_meta(redis, settings.prefix) == new.fields()
    await assert_in_place(redis, new)

    with pytest.raises(PartitionsError):  # a process still configured as before refuses
        await client_for(clients, settings, old.count).store.open()
    after = client_for(clients, settings)
    assert (await after.store.open()).count == target
    assert await state(after) == expected

    # the moved instances run on: an event wakes a waiter, a new one runs in its partition
    await after.send_event("waiter", "w1", type="go", payload={"x": 1})
    await after.tick(max_instances=50)
    assert (await after.get("waiter", "w1")).details.output == {"x": 1}
    await after.tick(max_instances=50)
    assert (await after.get("sleeper", "to-finish")).details.status == "waiting"
    await after.restart("quick", "q1", idempotency_key="again")  # remembered: no new run
    assert (await after.get("quick", "q1")).details.run_number == 1


async def test_an_interrupted_repartition_finishes_when_run_again(
    settings: Settings, redis: Redis, clients: list[Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    before = client_for(clients, settings)
    await populate(before)
    target = other_count((await before.store.open()).count)
    expected = await state(before)

    real = repartition._Mover.key
    seen = 0

    async def failing(self: Any, key: str) -> None:
        nonlocal seen
        seen += 1
        if seen == 40:
            raise ConnectionError("lost Redis half-way")
        await real(self, key)

    monkeypatch.setattr(repartition._Mover, "key", failing)
    with pytest.raises(ConnectionError):
        await repartition.repartition(redis, settings.prefix, target)
    monkeypatch.setattr(repartition._Mover, "key", real)

    # half-way: every process refuses, and so does a repartition to another count
    with pytest.raises(PartitionsError, match="under way"):
        await client_for(clients, settings).store.open()
    with pytest.raises(PartitionsError, match="under way"):
        await repartition.repartition(redis, settings.prefix, target + 1)

    await repartition.repartition(redis, settings.prefix, target)
    await assert_in_place(redis, Layout.spread(settings.prefix, target))
    assert await state(client_for(clients, settings)) == expected
    again = await repartition.repartition(redis, settings.prefix, target)
    assert again == repartition.Moved()


async def test_a_repartition_refuses_while_workers_run(
    settings: Settings, redis: Redis, clients: list[Client]
) -> None:
    client = client_for(clients, settings)
    await client.create("quick", instance_id="q")
    layout = await client.store.open()
    await membership.heartbeat(redis, settings.prefix, "host:123#ab", 60_000)
    with pytest.raises(PartitionsError, match=r"1 worker\(s\) .* are running \(host:123#ab\)"):
        await repartition.repartition(redis, settings.prefix, other_count(layout.count))
    assert (await partitions.read_meta(redis, settings.prefix)) == layout.fields()


@pytest.mark.skipif(CLUSTER, reason="one partition is for one Redis")
async def test_back_to_one_partition_restores_the_keys_of_old(
    settings: Settings, redis: Redis, clients: list[Client]
) -> None:
    four = client_for(clients, settings, 4)
    await populate(four)
    expected = await state(four)
    await repartition.repartition(redis, settings.prefix, 1)
    await assert_in_place(redis, Layout(settings.prefix))
    one = client_for(clients, settings)
    assert await state(one) == expected
    instance = keys.instance_key(settings.prefix, "quick", "q2")
    assert await redis.exists(instance) == 1  # spelled exactly as before partitions
