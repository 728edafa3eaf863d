"""A reply lost in transit: Redis ran the command, the connection dropped before the answer came
back (a Redis restart, a failover, a flaky network), and the client retried.

The control plane (durable.client.connect) and the workers (worker.settings.redis_settings)
retry a command on a dropped connection or a timeout. Each call below is made once and answered
once; its effect must happen once too.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any
from urllib.parse import urlparse

import pytest
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError, TimeoutError

from durable import workflow
from durable.client import Client
from durable.replies import Finished, NothingDue, Taken
from durable.settings import Settings
from durable.store import Ref, Store
from durable.worker.pipelining import Pipelining
from tests.helpers import as_json
from tests.reliability import flows

# the reply dropper is a proxy in front of one Redis: a cluster sends its clients to its nodes
pytestmark = [pytest.mark.timeout(30), pytest.mark.single_node]


@workflow("waiter")
async def waiter(event: Any, step: Any) -> Any:
    got = await step.wait_for_event("w", type="lost-reply-wait", timeout="1 h")
    return got.payload


WORKFLOWS = {**flows.workflows, "waiter": waiter}


class ReplyDropper:
    """A TCP proxy in front of Redis. Armed with a marker, it forwards the next request holding
    the marker, swallows Redis's reply and closes the client's connection instead."""

    def __init__(self, redis_url: str) -> None:
        self.parsed = urlparse(redis_url)
        self.upstream = (self.parsed.hostname or "127.0.0.1", self.parsed.port or 6379)
        self.marker: bytes | None = None
        self.dropped = 0
        self.server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        userinfo = self.parsed.netloc.rpartition("@")[0]
        netloc = f"{userinfo}@127.0.0.1:{port}" if userinfo else f"127.0.0.1:{port}"
        return self.parsed._replace(netloc=netloc).geturl()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        redis_r, redis_w = await asyncio.open_connection(*self.upstream)
        lost, ran = asyncio.Event(), asyncio.Event()

        async def requests() -> None:
            while data := await client_r.read(65536):
                if self.marker is not None and self.marker in data:
                    self.marker = None
                    self.dropped += 1
                    lost.set()
                redis_w.write(data)
                await redis_w.drain()
                if lost.is_set():
                    # Redis answers a connection's commands in order: the answer to a PING sent
                    # after the request means Redis has run it (its reply goes nowhere).
                    redis_w.write(b"PING\r\n")
                    await redis_w.drain()
                    await asyncio.wait_for(ran.wait(), 10)
                    break
            client_w.close()
            redis_w.close()

        async def replies() -> None:
            swallowed = b""
            while data := await redis_r.read(65536):
                if not lost.is_set():
                    client_w.write(data)
                    await client_w.drain()
                    continue
                swallowed += data
                if swallowed.endswith(b"+PONG\r\n"):
                    ran.set()
            client_w.close()

        with contextlib.suppress(ConnectionError, OSError):
            await asyncio.gather(requests(), replies())


@pytest.fixture
async def dropper(settings: Settings) -> AsyncIterator[ReplyDropper]:
    proxy = ReplyDropper(settings.redis_url)
    await proxy.start()
    yield proxy
    await proxy.close()


@pytest.fixture
async def client(settings: Settings, dropper: ReplyDropper) -> AsyncIterator[Client]:
    c = Client(WORKFLOWS, replace(settings, redis_url=dropper.url))
    # Load every script once, so the armed request is the one that runs (not a NOSCRIPT miss).
    await c.create("rel-chain", instance_id="warm")
    await c.send_event("rel-chain", "warm", type="go")
    await c.pause("rel-chain", "warm")
    await c.restart("rel-chain", "warm")
    await c.terminate("rel-chain", "warm")
    await c.create("waiter", instance_id="warm-wait")
    await c.tick()  # acquire, wait_event, release
    yield c
    await c.aclose()


async def test_one_restart_call_starts_one_new_run(client: Client, dropper: ReplyDropper) -> None:
    await client.create("rel-chain", instance_id="lost-restart")
    dropper.marker = b"lost-restart"
    await client.restart("rel-chain", "lost-restart")
    assert dropper.dropped == 1
    got = await client.get("rel-chain", "lost-restart")
    assert got.details.run_number == 1


async def test_one_terminate_call_succeeds_once_its_reply_was_lost(
    client: Client, dropper: ReplyDropper
) -> None:
    await client.create("rel-chain", instance_id="lost-terminate")
    dropper.marker = b"lost-terminate"
    await client.terminate("rel-chain", "lost-terminate")  # must not raise INSTANCE_TERMINAL
    assert dropper.dropped == 1
    got = await client.get("rel-chain", "lost-terminate")
    assert got.details.status == "terminated"


async def test_one_event_without_an_id_is_stored_once(
    client: Client, dropper: ReplyDropper
) -> None:
    await client.create("rel-chain", instance_id="lost-event")
    dropper.marker = b"only-once"
    await client.send_event("rel-chain", "lost-event", type="go", payload="only-once")
    assert dropper.dropped == 1
    events = (await client.history("rel-chain", "lost-event")).events
    assert [e.payload for e in events] == ["only-once"]


async def test_one_create_without_an_id_reports_the_instance_as_created(
    client: Client, dropper: ReplyDropper
) -> None:
    dropper.marker = b"marker-param"
    instance, created = await client.create("rel-chain", params={"tag": "marker-param"})
    assert dropper.dropped == 1
    assert created is True, instance


async def test_one_event_wait_consumes_one_event_when_a_worker_write_reply_is_lost(
    client: Client, dropper: ReplyDropper
) -> None:
    """The engine's own writes go through the same retrying connection (here: the runner tick)."""
    await client.create("waiter", instance_id="lost-wait")
    for payload in ("first", "second"):
        await client.send_event("waiter", "lost-wait", type="lost-reply-wait", payload=payload)
    dropper.marker = b"lost-reply-wait"  # only the wait_event script carries the type now
    await client.tick()
    assert dropper.dropped == 1
    got = await client.get("waiter", "lost-wait")
    assert as_json(got.details) == {"status": "complete", "runNumber": 0, "output": "first"}
    events = (await client.history("waiter", "lost-wait", order="asc")).events
    assert [(e.payload, e.consumed_by_step_key) for e in events] == [
        ("first", "w"),
        ("second", None),
    ]


@pytest.fixture(params=["redis-py", "pipelined"])
async def worker_store(
    request: pytest.FixtureRequest, settings: Settings, dropper: ReplyDropper
) -> AsyncIterator[Store]:
    """A worker's store behind the proxy: calls through redis-py's client, retried on a dropped
    connection as a worker's are, or through a durable worker's pipelining."""
    retry = Retry(ExponentialBackoff(cap=0.2, base=0.01), retries=5)
    redis = Redis.from_url(dropper.url, retry=retry, retry_on_error=[ConnectionError, TimeoutError])
    store = Store(redis, replace(settings, redis_url=dropper.url))
    pipelining = Pipelining(redis.connection_pool) if request.param == "pipelined" else None
    if pipelining is not None:
        store.caller = pipelining.call
    # Load the scripts once, so the armed request is the one that runs (not a NOSCRIPT miss).
    await store.take(owner="warm", ttl_ms=5000, token="warm")
    await store.finish(
        Ref("rel-chain", "warm-finish"), fence="0", run=0, outcome="complete", value="0",
        log_lines="", log_count=0,
    )  # fmt: skip
    yield store
    if pipelining is not None:
        await pipelining.close()
    await redis.aclose()


async def test_one_take_whose_reply_was_lost_leases_its_instance_once(
    client: Client, worker_store: Store, dropper: ReplyDropper
) -> None:
    await client.create("rel-chain", instance_id="lost-take")
    dropper.marker = b"lost-take-call"
    found = await worker_store.take(owner="w1", ttl_ms=60_000, token="lost-take-call", count=5)
    assert dropper.dropped == 1
    assert isinstance(found, Taken) and len(found.leases) == 1
    got = found.leases[0]
    assert got.instance_id == "lost-take"
    assert got.acquired.fence == "1"  # the lease the lost call took, not a second one
    again = await worker_store.take(owner="w1", ttl_ms=60_000, token="next-call")
    assert isinstance(again, NothingDue)
    assert (await client.get("rel-chain", "lost-take")).details.status == "running"


async def test_one_finish_whose_reply_was_lost_ends_the_run_once(
    client: Client, worker_store: Store, dropper: ReplyDropper
) -> None:
    await client.create("rel-chain", instance_id="lost-finish")
    found = await worker_store.take(owner="w1", ttl_ms=60_000, token="finish-take")
    assert isinstance(found, Taken)
    got = found.leases[0]
    assert got.instance_id == "lost-finish"
    dropper.marker = b"lost-finish-output"
    done = await worker_store.finish(
        Ref("rel-chain", "lost-finish"), fence=got.acquired.fence, run=0, outcome="complete",
        value='"lost-finish-output"', log_lines="", log_count=0,
    )  # fmt: skip
    assert dropper.dropped == 1
    assert done == Finished()  # not refused as a lost lease
    got_back = await client.get("rel-chain", "lost-finish")
    assert as_json(got_back.details) == {
        "status": "complete", "runNumber": 0, "output": "lost-finish-output",
    }  # fmt: skip
