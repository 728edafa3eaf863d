"""Waiting for work without polling: an idle worker blocks on the wake marker (keys.wake_key).

Every script that makes work due now adds a member to the marker (_lib.lua's `signal`, called by
`schedule`), and so does one that moves the queue's head earlier. An idle worker holds one
connection of its own blocked in BZPOPMIN on the marker; a pop wakes it to take work. The block
is capped (`block_cap_s`): if a worker dies right after popping a member, the wake-up it took is
lost, and the others notice the due work at their next cap at the latest. Each cap also refreshes
what the worker knows of the next due times (a take answers them), so a lease that expires while
everyone is idle is recovered on time.

Each partition has its own queue and marker. BZPOPMIN takes several keys, so a worker blocks on
the markers of all the partitions it serves at once, and `Served` keeps which of them to take
from now and when each of the others comes due.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from redis.asyncio.connection import AbstractConnection
from redis.exceptions import RedisError, ResponseError

from durable import cluster
from durable.cluster import AnyRedis
from durable.worker.pipelining import pack

log = logging.getLogger("durable.worker")

# The longest an idle worker blocks: what a lost wake-up can cost, and the period of an idle
# worker's two commands (BZPOPMIN, then a take): one command a second.
BLOCK_CAP_S = 2.0
# Event-loop turns a listener lets pass before it blocks again: an execution reaches its first
# step in about three (its task, the workflow function's, a step's attempt).
YIELDS = 3


def block_cap_s(lease_ttl_ms: int) -> float:
    """The block cap for a lease TTL: at most a quarter of it, so that an idle worker learns of
    a lease well before it can expire, and recovers it on time if its worker dies."""
    return min(BLOCK_CAP_S, lease_ttl_ms / 4000)


class Served:
    """A worker's partitions: those to take from now (`ready`, in turn) and, for each of the
    others, the loop time at which its next job or housekeeping chore comes due (`due_at`;
    none: only a wake-up makes it ready again)."""

    def __init__(self, partitions: Sequence[int]) -> None:
        self.partitions = list(partitions)
        self.ready: dict[int, None] = dict.fromkeys(self.partitions)  # an ordered set
        self.due_at: dict[int, float] = {}

    def next(self, now: float) -> int | None:
        """The partition to take from next (round robin), or None when none is ready."""
        for partition, at in list(self.due_at.items()):
            if at <= now:
                self.wake(partition)
        for partition in self.ready:
            del self.ready[partition]
            self.ready[partition] = None  # to the back: the others get their turn first
            return partition
        return None

    def dry(self, partition: int, due_at: float | None) -> None:
        """A take found nothing due in `partition`; its next due time, if it knows one."""
        self.ready.pop(partition, None)
        if due_at is None:
            self.due_at.pop(partition, None)
        else:
            self.due_at[partition] = due_at

    def replace(self, partitions: Sequence[int]) -> None:
        """Serve `partitions` from now on (durable/worker/serving.py): those new to the worker
        are taken from at once, those it no longer serves are forgotten."""
        added = [p for p in partitions if p not in self.partitions]
        self.partitions = list(partitions)
        for gone in [p for p in (*self.ready, *self.due_at) if p not in self.partitions]:
            self.ready.pop(gone, None)
            self.due_at.pop(gone, None)
        self.ready.update(dict.fromkeys(added))

    def wake(self, partition: int | None = None) -> None:
        """Take from `partition` (None: from every one) at the next turn."""
        for woken in self.partitions if partition is None else [partition]:
            self.due_at.pop(woken, None)
            self.ready[woken] = None

    def first_due(self) -> float | None:
        return min(self.due_at.values(), default=None)


async def stop(task: asyncio.Task[Any]) -> None:
    """Cancel a task and wait for it to end; a cancellation of the caller itself that arrives
    meanwhile (a shutdown) is not swallowed with the task's own."""
    current = asyncio.current_task()
    before = current.cancelling() if current is not None else 0
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        if current is not None and current.cancelling() > before:
            raise


class TakeAhead(Protocol):
    """A take sent behind the block (see WakeListener): `command(marker)` packs one with a
    ticket (None: not now) and `answered(ticket, reply)` receives its reply, or the error that
    stopped it."""

    def command(self, marker: str) -> tuple[bytes, Any] | None: ...

    def answered(self, ticket: Any, reply: Any) -> None: ...


class WakeListener:
    """BZPOPMIN on the wake markers, on a connection of its own (named `name` in CLIENT LIST),
    while its worker is idle.

    `arm()` when a take found nothing due: the listener blocks for up to `cap_s`, then calls
    `poke(key)` with the marker it popped a member from, or `poke(None)` when the cap ran out,
    and does not block again until armed again: the worker handles the wake-up first (the
    process's one core goes to the work the wake-up brought, not to sending the next block).
    `disarm()` when the worker has work: a BZPOPMIN already sent stays until it returns. A
    member popped while `busy()` (the worker has no free slot) is put back, so another blocked
    worker gets it.

    With `ahead`, a listener on one marker sends a take of that marker's partition in the same
    write, behind its BZPOPMIN: Redis answers a connection's commands in order, so the take runs
    the moment the block ends (a wake-up, or the cap) and both replies come back together. The
    worker is then handed the take's reply (`ahead.answered`) instead of a poke, and starts the
    work a round trip sooner; the take at each cap costs no command of its own either.
    """

    def __init__(
        self,
        redis: AnyRedis,
        wake_keys: Sequence[str],
        cap_s: float,
        poke: Callable[[str | None], None],
        busy: Callable[[], bool],
        name: str = "",
        ahead: TakeAhead | None = None,
    ) -> None:
        self.redis = redis
        self.ahead = ahead if len(wake_keys) == 1 else None
        self.name = name
        self.wake_keys = list(wake_keys)
        self.cap_s = cap_s
        self.poke = poke
        self.busy = busy
        self.armed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._conn: AbstractConnection | None = None

    def arm(self) -> None:
        self.armed.set()
        if self._task is None:
            self._task = asyncio.ensure_future(self._listen())

    def disarm(self) -> None:
        self.armed.clear()

    async def close(self) -> None:
        """Stop at once, even in the middle of a block (its connection is closed, not reused)."""
        task, self._task = self._task, None
        if task is not None:
            await stop(task)
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.disconnect()

    async def _listen(self) -> None:
        delay = 0.1
        while True:
            await self.armed.wait()
            # what is ready to run first: the work a wake-up just brought (its task, the
            # workflow's, a step's) reaches its first step before the next block is sent
            for _ in range(YIELDS):
                await asyncio.sleep(0)
            if not self.armed.is_set():
                continue
            try:
                popped, ticket, took = await self._block()
            except (RedisError, OSError) as exc:
                log.warning("waiting for work failed, retrying in %.1fs: %s", delay, exc)
                # a new connection next time: on a cluster, to whichever node has the slot now
                conn, self._conn = self._conn, None
                if conn is not None:
                    with contextlib.suppress(RedisError, OSError):
                        await conn.disconnect()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                self.poke(None)
                continue
            delay = 0.1
            # blocked again only when the worker idles again (it arms): first it handles this
            self.armed.clear()
            if ticket is not None:
                self.ahead.answered(ticket, took)  # type: ignore[union-attr]
            elif popped is None:
                self.poke(None)
            elif self.busy():
                await self._pass_on(popped)
            else:
                self.poke(popped[0].decode())

    async def _block(self) -> tuple[Any, Any, Any]:
        """One BZPOPMIN ([key, member, score], or None when the cap ran out first); the ticket
        of the take sent behind it (None: none), and its reply (a script error as the
        exception)."""
        if self._conn is None:  # the pool's settings, but not one of its connections
            # on a cluster: to the node of the markers' slot (durable/worker/serving.py)
            self._conn = cluster.dedicated_connection(self.redis, self.wake_keys[0])
            self._conn.client_name = self.name or None  # names it in CLIENT LIST
        ahead = None if self.ahead is None else self.ahead.command(self.wake_keys[0])
        if ahead is None:
            await self._conn.send_command("BZPOPMIN", *self.wake_keys, self.cap_s)
            return await self._conn.read_response(), None, None
        take, ticket = ahead
        try:
            if not self._conn.is_connected:
                await self._conn.connect()  # type: ignore[no-untyped-call]
            await self._conn.send_packed_command(
                [pack(("BZPOPMIN", *self.wake_keys, self.cap_s)), take]
            )
            popped = await self._conn.read_response()
            try:
                took: Any = await self._conn.read_response()
            except ResponseError as exc:  # NOSCRIPT, or a script error: the worker takes itself
                took = exc
        except BaseException as exc:  # the take's fate is unknown: the worker sends it again
            self.ahead.answered(ticket, exc)  # type: ignore[union-attr]
            raise
        return popped, ticket, took

    async def _pass_on(self, popped: Any) -> None:
        key, member, score = popped
        with contextlib.suppress(RedisError, OSError):  # lost: the others' cap catches it
            await self.redis.zadd(key, {member: float(score)})
