"""Takes sent behind a worker's block on the wake marker (durable/worker/ahead.py): what the
listener sends runs as the take script does, its reply starts the work, and a take whose reply
was lost is taken again with its token, answering the lease it took. Against a real Redis."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError

from durable import keys
from durable.replies import Taken
from durable.settings import Settings
from durable.store import Ref, Store
from durable.worker.ahead import TakeAheads
from durable.worker.serving import Serving

# the first partition's take, on one Redis (the cluster pass runs it in the worker tests)
pytestmark = [pytest.mark.timeout(30), pytest.mark.single_node]

OWNER = "w1"


@pytest.fixture
async def store(redis: Any, settings: Settings) -> Store:
    opened = Store(redis, settings)
    await opened.open()
    # a worker's own takes load the script before it ever blocks; so does this one (nothing due)
    await opened.take(owner="warm-up", ttl_ms=1000, token="w", count=1, ahead_ms=0)
    return opened


def aheads(store: Store, pokes: list[int], free: int = 1) -> tuple[TakeAheads, str]:
    tokens = (f"tok.{n}" for n in itertools.count())
    ahead = TakeAheads(tokens, lambda: free, lambda: pokes.append(1))
    serving = Serving(store, OWNER, 2.0, lambda: None, lambda: free == 0, "test")
    marker = keys.wake_key(store.layout.space(0))
    serving.markers = {marker: 0}
    serving.served.replace([0])
    ahead.attach(store, OWNER, 0, serving)
    return ahead, marker


async def send(redis_url: str, command: bytes) -> Any:
    """Send a packed command on a connection of its own, as the wake listener does."""
    client = Redis.from_url(redis_url)
    conn = client.connection_pool.make_connection()
    await conn.connect()
    try:
        await conn.send_packed_command(command)
        return await conn.read_response()
    finally:
        await conn.disconnect()
        await client.aclose()


async def test_a_take_behind_the_block_starts_the_work_it_leased(
    store: Store, settings: Settings
) -> None:
    await store.create(Ref("wf", "a"), params="{}")
    pokes: list[int] = []
    ahead, marker = aheads(store, pokes)
    sent = ahead.command(marker)
    assert sent is not None and sent[0].startswith(b"*")
    command, ticket = sent
    ahead.answered(ticket, await send(settings.redis_url, command))
    assert pokes == [1]  # the worker's loop is woken to start it
    [(partition, found)] = ahead.taken()
    assert partition == 0 and isinstance(found, Taken)
    assert [(one.workflow, one.instance_id) for one in found.leases] == [("wf", "a")]
    assert found.leases[0].acquired.instance["owner"] == OWNER
    assert ahead.taken() == []  # handed over once


async def test_a_lost_reply_is_taken_again_with_its_token(store: Store, settings: Settings) -> None:
    await store.create(Ref("wf", "b"), params="{}")
    pokes: list[int] = []
    ahead, marker = aheads(store, pokes)
    sent = ahead.command(marker)
    assert sent is not None
    await send(settings.redis_url, sent[0])  # the take ran: the instance is leased...
    ahead.answered(sent[1], ConnectionError("dropped"))  # ...but its reply never came
    assert ahead.taken() == [] and pokes == [1]
    token = ahead.retakes.pop(0)
    again = await store.take(owner=OWNER, ttl_ms=5000, token=token, count=1, ahead_ms=0)
    assert isinstance(again, Taken)  # the receipt answers the lease the lost take holds
    assert [one.instance_id for one in again.leases] == ["b"]


async def test_a_script_error_leaves_the_take_to_the_worker(store: Store) -> None:
    pokes: list[int] = []
    ahead, marker = aheads(store, pokes)
    sent = ahead.command(marker)
    assert sent is not None
    ahead.answered(sent[1], ValueError("NOSCRIPT"))  # any failure: the loop takes itself
    assert 0 in ahead.retakes and ahead.taken() == []
    ahead.answered(sent[1], ValueError("again"))  # a ticket is answered once
    assert pokes == [1]


def test_takes_behind_blocks_never_outnumber_the_free_slots(store: Store) -> None:
    assert aheads(store, [], free=0)[0].command("any") is None
    ahead, marker = aheads(store, [], free=2)
    assert ahead.command("not a marker it serves") is None
    first, second = ahead.command(marker), ahead.command(marker)  # two partitions' listeners
    assert first is not None and second is not None and first[1] != second[1]
    assert ahead.command(marker) is None  # a third would take beyond the two free slots
    ahead.answered(first[1], ConnectionError("closed"))
    assert ahead.command(marker) is not None
