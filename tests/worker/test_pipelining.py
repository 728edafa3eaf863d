"""A worker's pipelined script calls (durable/worker/pipelining.py) against a real Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.connection import AbstractConnection
from redis.commands.core import AsyncScript
from redis.exceptions import ResponseError

from durable.worker.pipelining import Pipelining, pack
from tests.helpers import assert_eventually

# a durable worker pipelines its calls on one Redis only (on a cluster they go one by one)
pytestmark = [pytest.mark.timeout(30), pytest.mark.single_node]


@pytest.fixture
async def pipelining(redis: Redis) -> AsyncIterator[Pipelining]:
    calls = Pipelining(redis.connection_pool, name=f"durable-test:{uuid.uuid4().hex[:8]}")
    yield calls
    await calls.close()


def script(redis: Redis, body: str) -> AsyncScript:
    """A script this Redis has not seen yet (its first call is answered NOSCRIPT)."""
    return AsyncScript(redis, f"-- {uuid.uuid4().hex}\n{body}")


def test_pack_spells_a_command_as_redis_reads_it() -> None:
    assert (
        pack(("SET", "k", 12, b"\xff"))
        == b"*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\n12\r\n$1\r\n\xff\r\n"
    )
    assert pack(("ECHO", "é")) == b"*2\r\n$4\r\nECHO\r\n$2\r\n\xc3\xa9\r\n"


async def test_calls_made_together_share_one_write_and_get_their_own_replies(
    redis: Redis, pipelining: Pipelining
) -> None:
    echo = script(redis, "return ARGV[1] .. KEYS[1]")
    await pipelining.call(echo, ["!"], ["warm"])  # loads the script
    writes = pipelining.writes
    found = await asyncio.gather(*(pipelining.call(echo, ["!"], [n]) for n in range(20)))
    assert found == [f"{n}!".encode() for n in range(20)]
    assert pipelining.writes == writes + 1


async def test_a_script_error_fails_its_own_call_only(redis: Redis, pipelining: Pipelining) -> None:
    checked = script(redis, "if ARGV[1] == 'bad' then return redis.error_reply('refused') end "
                     "return ARGV[1]")  # fmt: skip
    found = await asyncio.gather(
        *(pipelining.call(checked, [], [arg]) for arg in ("a", "bad", "c")),
        return_exceptions=True,
    )
    assert found[0] == b"a" and found[2] == b"c"
    assert isinstance(found[1], ResponseError) and "refused" in str(found[1])


async def test_a_call_after_the_connection_dropped_is_sent_again(
    redis: Redis, pipelining: Pipelining
) -> None:
    echo = script(redis, "return ARGV[1]")
    assert await pipelining.call(echo, [], ["before"]) == b"before"

    async def own_connection() -> list[str]:
        clients = await redis.client_list()
        return [c["id"] for c in clients if c.get("name") == pipelining.name]

    (client_id,) = await assert_eventually(own_connection)
    await redis.client_kill_filter(_id=client_id)
    assert await pipelining.call(echo, [], ["after"]) == b"after"
    assert await own_connection() != [client_id]  # a new connection carried it


async def test_calls_in_flight_or_made_after_closing_go_through_the_client(
    redis: Redis, pipelining: Pipelining
) -> None:
    # a worker shutting down closes its pipeline while its executions hand their instances
    # over: those calls, and the ones already queued or in flight, still get their replies,
    # and the closed pipeline opens no connection again
    echo = script(redis, "return ARGV[1]")
    await pipelining.call(echo, [], ["warm"])
    in_flight = [asyncio.ensure_future(pipelining.call(echo, [], [n])) for n in range(5)]
    await asyncio.sleep(0)  # queued for the next write
    closing = asyncio.ensure_future(pipelining.close())
    during = asyncio.ensure_future(pipelining.call(echo, [], ["during"]))
    await closing
    after = await asyncio.wait_for(pipelining.call(echo, [], ["after"]), 5)
    assert (after, await asyncio.wait_for(during, 5)) == (b"after", b"during")
    found = await asyncio.wait_for(asyncio.gather(*in_flight), 5)
    assert found == [str(n).encode() for n in range(5)]
    clients = await redis.client_list()
    assert [c for c in clients if c.get("name") == pipelining.name] == []


class SlowHandshake:
    """Connections whose handshake (CLIENT SETNAME, after the socket is open) takes a while."""

    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool

    def make_connection(self) -> AbstractConnection:
        conn: AbstractConnection = self.pool.make_connection()  # type: ignore[no-untyped-call]
        on_connect = conn.on_connect

        async def slow() -> None:
            await asyncio.sleep(0.05)
            await on_connect()

        conn.on_connect = slow  # type: ignore[method-assign]
        return conn


async def test_calls_made_while_connecting_wait_for_the_handshake(redis: Redis) -> None:
    # a call made while the connection's handshake still reads its own replies is written after
    # it: a reader started meanwhile would race the handshake for the socket
    name = f"durable-test:{uuid.uuid4().hex[:8]}"
    calls = Pipelining(SlowHandshake(redis.connection_pool), name=name)
    echo = script(redis, "return ARGV[1]")
    await echo(args=["load"])
    try:
        first = asyncio.ensure_future(calls.call(echo, [], ["first"]))
        await asyncio.sleep(0.02)  # the socket is open, the handshake not done
        second = asyncio.ensure_future(calls.call(echo, [], ["second"]))
        found = await asyncio.wait_for(asyncio.gather(first, second), 5)
        assert list(found) == [b"first", b"second"]
        assert [c for c in await redis.client_list() if c.get("name") == name]
    finally:
        await calls.close()
