"""Redis Cluster: found by asking the server, then spoken to with redis-py's cluster client.

Nobody configures cluster mode: a Redis that answers `INFO cluster` with `cluster_enabled:1`
is a cluster node, and durable then talks to the whole cluster through
`redis.asyncio.cluster.RedisCluster`, built from the same URL (any node's).

Pipelined script calls: redis-py 5 refuses script calls in a cluster pipeline (redis-py#2914:
`evalsha` and script objects are blocked there, and nothing would load a script on the node
that runs it). `run_scripts` sends the calls as raw EVALSHA commands of one cluster pipeline,
which redis-py routes by their first key and sends as one pipeline per node, the nodes in
parallel; a call answered NOSCRIPT (a node that has not seen the script yet, or restarted) is
made again on its own through the script object, which loads the script on every primary.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, cast

from arq.connections import log_redis_info
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import (
    ConnectionError,
    NoScriptError,
    ResponseError,
    SlotNotCoveredError,
    TimeoutError,
)

# Either client: redis-py's command methods are the same on both.
AnyRedis = Redis | RedisCluster
# One pipelined script call: the script, its KEYS and its ARGV.
ScriptCall = tuple[AsyncScript, Sequence[Any], Sequence[Any]]


async def enabled(redis: AnyRedis) -> bool:
    """Whether the server is a Redis Cluster node (`INFO cluster`: cluster_enabled:1)."""
    if isinstance(redis, RedisCluster):
        return True
    try:
        info = await redis.info("cluster")
    except ResponseError:  # a Redis-compatible server without INFO (fakeredis) is no cluster
        return False
    return str(info.get("cluster_enabled", "0")) == "1"


def _options() -> dict[str, Any]:
    """Timeouts and brief retries on a dropped connection, as durable.client.connect's."""
    return {
        "socket_timeout": 5,
        "socket_connect_timeout": 2,
        "retry": Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=3),
        "retry_on_error": [ConnectionError, TimeoutError],
    }


def connect(url: str, **options: Any) -> RedisCluster:
    """A cluster client from any node's URL."""
    client: RedisCluster = RedisCluster.from_url(url, **(_options() | options))
    return client


async def connect_any(url: str) -> AnyRedis:
    """A client of the Redis at `url`: the cluster client when it is a cluster node."""
    plain: Redis = Redis.from_url(url, **_options())
    if not await enabled(plain):
        return plain
    await plain.aclose()
    return connect(url)


def register_script(redis: AnyRedis, source: str) -> AsyncScript:
    """A script object for either client (redis-py types it for the single-node one only)."""
    return AsyncScript(cast(Redis, redis), source)


class ArqCluster(RedisCluster):
    """The cluster client in the place of arq's pool (ArqRedis) in a durable worker: what
    arq's Worker asks of its pool (INFO at start, its health line, closing) works on it. arq's
    own job handling (WATCH/MULTI transactions over several keys) does not, so a queue shared
    with plain arq functions is for one Redis only."""

    async def close(self, close_connection_pool: bool | None = None) -> None:
        await self.aclose()


async def arq_pool_for(pool: Any, url: str) -> Any:
    """arq's pool, or in its place a cluster client when it turns out to speak to a Redis
    Cluster node (the pool is closed then)."""
    if not await enabled(pool):
        return pool
    await pool.aclose()
    # as arq's own pool: no socket timeout, for redis-py then sends through asyncio.wait_for,
    # which in Python 3.11 can swallow the cancellation of a shutdown; retries that ride out
    # a restart, as durable.worker.settings.redis_settings'
    options = _options() | {
        "socket_timeout": None,
        "retry": Retry(ExponentialBackoff(cap=2.0, base=0.05), retries=40),
    }
    cluster_pool: ArqCluster = ArqCluster.from_url(url, **options)
    return cluster_pool


async def log_arq_info(pool: Any, log: Callable[[str], Any]) -> None:
    """arq's start-up line about its Redis (arq pipelines INFO, which a cluster refuses)."""
    if not isinstance(pool, RedisCluster):
        await log_redis_info(pool, log)
        return
    info = await pool.info()
    nodes = len(pool.get_primaries())
    log(
        f"redis_version={info.get('redis_version', '?')} cluster of {nodes} primaries "
        f"clients_connected={info.get('connected_clients', '?')} (one node's)"
    )


def dedicated_connection(redis: AnyRedis, key: str) -> AbstractConnection:
    """A connection of its own, not one of the pool's, to the server that holds `key` (for a
    blocking command); on a cluster the client must have reached the cluster already."""
    if isinstance(redis, RedisCluster):
        node = redis.get_node_from_key(key)
        if node is None:
            raise SlotNotCoveredError(f"no node of the cluster serves {key!r}")
        conn: AbstractConnection = node.connection_class(**node.connection_kwargs)
        return conn
    return cast(AbstractConnection, redis.connection_pool.make_connection())


# Runs its ARGV as commands, each preceded by its length, in one step: MULTI/EXEC for keys of
# one slot, which redis-py's cluster client cannot send (its pipelines have no transactions).
_ATOMICALLY = """
local i = 1
while i <= #ARGV do
  local n = tonumber(ARGV[i])
  redis.call(unpack(ARGV, i + 1, i + n))
  i = i + n + 1
end
return #ARGV
"""


async def atomically(redis: AnyRedis, *commands: Sequence[Any]) -> None:
    """Run commands whose keys share one slot (the first command's first key names it) as one
    atomic step, on one Redis or a cluster."""
    args = [part for command in commands for part in (len(command), *command)]
    await cast(Awaitable[Any], redis.eval(_ATOMICALLY, 1, commands[0][1], *args))


async def run_scripts(redis: AnyRedis, calls: Sequence[ScriptCall]) -> list[Any]:
    """The replies of several script calls made in one pipeline (per node on a cluster)."""
    if not calls:
        return []
    if isinstance(redis, Redis):
        async with redis.pipeline(transaction=False) as pipe:
            for script, keys_, args in calls:
                await script(keys=keys_, args=args, client=pipe)
            return list(await pipe.execute())
    async with redis.pipeline() as pipe:
        for script, keys_, args in calls:
            # the pipeline's own evalsha() refuses to run on a cluster; the command routes well
            pipe.execute_command("EVALSHA", script.sha, len(keys_), *keys_, *args)
        results = list(await pipe.execute(raise_on_error=False))
    for i, (script, keys_, args) in enumerate(calls):
        if isinstance(results[i], NoScriptError):
            results[i] = await script(keys=keys_, args=args)
    for result in results:
        if isinstance(result, Exception):
            raise result
    return results
