"""Which worker serves which partitions, without a coordinator.

Every worker keeps an entry in the registry of live workers (`keys.workers_key`, a sorted set
scored by when each entry lapses, in Redis time), renewed by a heartbeat; each heartbeat drops
the entries that lapsed and answers the live ones, and the worker serves the partitions that
rendezvous hashing over that live set gives it (`partitions.served`). When a worker dies its
entry lapses within `ttl_ms`, and at their next heartbeat the others take its partitions over:
an orphaned partition has a worker again within ttl + one heartbeat interval, which is shorter
than a lease, so its instances are recovered on time. Two workers serving one partition for a
moment (while they see different live sets) is harmless: the per-instance lease and fencing
token keep each instance to one worker.

With one partition every worker serves it and the registry only tells `durable admin
repartition` that workers are running: a heartbeat every 30 s.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError

from durable import keys, partitions

if TYPE_CHECKING:
    from durable.store import Store

log = logging.getLogger("durable.worker")

# With one partition: how long an entry lives and how often it is renewed.
SINGLE_PARTITION_TTL_MS = 90_000
# Drops lapsed entries, renews this worker's (ARGV[1], for ARGV[2] ms; none when ARGV[1] is
# ''), answers the live workers. An empty registry disappears by itself.
_HEARTBEAT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if ARGV[1] ~= '' then redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1]) end
return redis.call('ZRANGE', KEYS[1], 0, -1)
"""


async def heartbeat(redis: Any, prefix: str, member: str, ttl_ms: int) -> list[str]:
    """Renew `member`'s entry for `ttl_ms` ('' renews none) and answer the live workers."""
    raw = await redis.eval(_HEARTBEAT, 1, keys.workers_key(prefix), member, ttl_ms)
    return [m.decode() if isinstance(m, bytes) else str(m) for m in raw]


async def live_workers(redis: Any, prefix: str) -> list[str]:
    return await heartbeat(redis, prefix, "", 0)


def entry_ttl_ms(partition_count: int, lease_ttl_ms: int) -> int:
    """How long an entry lives without a heartbeat: half a lease with several partitions (so a
    dead worker's partitions move before its leases expire), else 90 s."""
    return SINGLE_PARTITION_TTL_MS if partition_count == 1 else max(300, lease_ttl_ms // 2)


class Membership:
    """One worker's entry in the registry and the partitions it serves, kept up to date by
    `run()`; `on_change(served)` is called whenever they change."""

    def __init__(
        self,
        store: Store,
        member: str,
        on_change: Callable[[list[int]], None] = lambda served: None,
    ) -> None:
        self.store = store
        self.member = member
        self.on_change = on_change
        self.served: list[int] = [0]
        self.ttl_ms = SINGLE_PARTITION_TTL_MS

    @property
    def interval_s(self) -> float:
        return self.ttl_ms / 3000

    async def join(self) -> list[int]:
        """The first heartbeat: the partitions this worker serves from now on."""
        layout = await self.store.open()
        self.ttl_ms = entry_ttl_ms(layout.count, self.store.settings.lease_ttl_ms)
        await self.beat()
        return self.served

    async def beat(self) -> None:
        layout = await self.store.open()
        prefix = self.store.settings.prefix
        live = await heartbeat(self.store.redis, prefix, self.member, self.ttl_ms)
        served = partitions.served(layout.count, live, self.member)
        if served != self.served:
            log.debug("serving partitions %s of %d", served, layout.count)
            self.served = served
            self.on_change(served)

    async def run(self) -> None:
        """Heartbeats until cancelled; Redis trouble is retried at the next one."""
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.beat()
            except (RedisError, OSError) as exc:
                log.debug("heartbeat failed, retrying: %s", exc)

    async def leave(self) -> None:
        """Drop this worker's entry (a clean shutdown), so its partitions move at once."""
        try:
            await self.store.redis.zrem(keys.workers_key(self.store.settings.prefix), self.member)
        except (RedisError, OSError) as exc:
            log.debug("could not leave the registry: %s", exc)
