"""The partitions a durable worker serves, and its wait on their wake markers.

A worker joins the registry of live workers (durable/membership.py) and serves the partitions
rendezvous hashing gives it; `Serving` keeps the worker's `Served` (durable/worker/wake.py) and
its wake listeners on those partitions' markers up to date as workers come and go, with a
heartbeat task of its own. On one Redis a single listener blocks on every marker at once
(BZPOPMIN takes several keys); on a Redis Cluster the keys of one command must share a slot,
so each partition gets a listener of its own, on a connection to that partition's node.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable

from redis.asyncio.cluster import RedisCluster

from durable import keys
from durable.cluster import AnyRedis
from durable.membership import Membership
from durable.store import Store
from durable.worker.wake import Served, TakeAhead, WakeListener, stop


class Listeners:
    """WakeListener's interface (arm, disarm, close, cap_s) over several listeners: one for
    every marker on one Redis, one per marker on a cluster. `poke(marker)` as WakeListener's."""

    def __init__(
        self,
        redis: AnyRedis,
        cap_s: float,
        poke: Callable[[str | None], None],
        busy: Callable[[], bool],
        name: str,
        ahead: TakeAhead | None = None,
    ) -> None:
        self.redis = redis
        self.cap_s = cap_s
        self.poke = poke
        self.busy = busy
        self.name = name
        self.ahead = ahead
        self.listeners: list[WakeListener] = []
        self._closing: set[asyncio.Task[None]] = set()

    def watch(self, markers: list[str]) -> None:
        """Listen on these markers from now on (the old listeners are closed)."""
        old, self.listeners = self.listeners, []
        for listener in old:
            self._close_later(listener)
        groups = [[m] for m in markers] if isinstance(self.redis, RedisCluster) else [markers]
        for group in groups:
            self.listeners.append(
                WakeListener(
                    self.redis, group, self.cap_s, self.poke, self.busy, self.name, self.ahead
                )
            )

    def arm(self) -> None:
        for listener in self.listeners:
            listener.arm()

    def disarm(self) -> None:
        for listener in self.listeners:
            listener.disarm()

    async def close(self) -> None:
        listeners, self.listeners = self.listeners, []
        await asyncio.gather(*(listener.close() for listener in listeners))
        await asyncio.gather(*self._closing)

    def _close_later(self, listener: WakeListener) -> None:
        task = asyncio.ensure_future(listener.close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)


class Serving:
    """A worker's membership in the registry, the partitions it serves (`served`) and its
    listeners on their markers (`listeners`); `poke()` wakes the worker's loop."""

    def __init__(
        self,
        store: Store,
        owner: str,
        cap_s: float,
        poke: Callable[[], None],
        busy: Callable[[], bool],
        name: str,
        ahead: TakeAhead | None = None,
    ) -> None:
        self.store = store
        self.poke = poke
        # one entry per worker object: several in one process (as in tests) count apart
        self.membership = Membership(store, f"{owner}#{secrets.token_hex(3)}", self._changed)
        self.served = Served([])
        self.markers: dict[str, int] = {}
        self.listeners = Listeners(store.redis, cap_s, self._woken, busy, name, ahead)
        self._heartbeat: asyncio.Task[None] | None = None

    async def start(self) -> tuple[Served, Listeners]:
        """Join the registry and start listening on the partitions given."""
        self._changed(await self.membership.join())
        self._heartbeat = asyncio.ensure_future(self.membership.run())
        return self.served, self.listeners

    async def close(self) -> None:
        """Stop listening and leave the registry (the partitions move to the others now)."""
        try:
            if self._heartbeat is not None:
                await stop(self._heartbeat)
        finally:
            try:
                await self.listeners.close()
            finally:
                await self.membership.leave()

    def _changed(self, partitions: list[int]) -> None:
        layout = self.store.layout
        self.served.replace(partitions)
        self.markers = {keys.wake_key(layout.space(p)): p for p in partitions}
        self.listeners.watch(list(self.markers))
        self.poke()

    def _woken(self, marker: str | None) -> None:
        partition = None if marker is None else self.markers.get(marker)
        if marker is None or partition is not None:
            self.served.wake(partition)
        self.poke()
