"""One connection that carries a worker's concurrent script calls as pipelines.

A worker runs up to `max_jobs` executions at once, each waiting on one script call at a time.
Through redis-py's client each call checks a connection out of the pool (and probes it), packs
its arguments, sends them alone and waits for its reply: 60-90 µs of worker CPU per call on the
benchmark machine, most of what a no-op step costs. `Pipelining` packs each call as it is made and
sends all the calls made in one turn of the event loop in one write, on one connection; a reader
hands each reply to its caller as it comes back (Redis answers a connection's commands in order).
The calls stay independent: each caller awaits its own reply, and a script that answers an error
fails its own caller only. Round trips do not change: an execution still waits for each of its
calls in turn.

A dropped connection fails every call in flight; each is then sent again after a backoff, as
redis-py's retry would (every script is safe to run twice: docs/architecture.md, "Lost
replies"). A call answered NOSCRIPT (Redis restarted, or its scripts were flushed) loads its
script and is sent again. Once the worker closes it (it is shutting down), the calls still to
come (an execution handing its instance over) and those it failed go through the client.

On a Redis Cluster, `NodePipelines` keeps one such connection per node and sends each call to
the node that serves its keys' slot (all the keys of a durable script share one). A call a node
answers with a redirect (MOVED or ASK: its slot moved) or cannot answer (the node is down, a
failover under way) goes through redis-py's cluster client instead, which follows the redirect,
refreshes its map of slots and retries; later calls then go to the new node.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from typing import Any, Protocol

from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.connection import AbstractConnection
from redis.backoff import ExponentialBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import (
    AskError,
    ClusterDownError,
    ConnectionError,
    MovedError,
    NoScriptError,
    ResponseError,
    TimeoutError,
    TryAgainError,
)

RETRIES = 40  # as durable.worker.settings.redis_settings: rides out a Redis restart
_BACKOFF = ExponentialBackoff(cap=2.0, base=0.05)
_DROPPED = (ConnectionError, TimeoutError, OSError)


def pack(args: Sequence[Any]) -> bytes:
    """A command in RESP (str, bytes and numbers; strings as UTF-8, as redis-py sends them)."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


class ConnectionMaker(Protocol):
    """What makes Pipelining's connection: a redis-py ConnectionPool, or a cluster node's."""

    def make_connection(self) -> AbstractConnection: ...


class Pipelining:
    """Script calls over one connection of `pool`'s settings, pipelined (see the module). A
    dropped connection is retried `retries` times before the call fails."""

    def __init__(self, pool: ConnectionMaker, name: str = "", retries: int = RETRIES) -> None:
        self.pool = pool
        self.name = name
        self.retries = retries
        self.writes = 0  # pipelines sent: the network round trips of the calls
        self.calls = 0
        self._conn: AbstractConnection | None = None
        self._pending: list[tuple[bytes, asyncio.Future[Any]]] = []
        self._inflight: deque[asyncio.Future[Any]] = deque()
        self._scheduled = False
        self._connecting: asyncio.Task[None] | None = None
        self._reading: asyncio.Task[None] | None = None
        self.closed = False

    async def call(self, script: AsyncScript, keys: list[str], args: list[Any]) -> Any:
        """EVALSHA of `script`: its reply (raises the script's error, or the connection's once
        the retries are spent)."""
        command = pack(("EVALSHA", script.sha, len(keys), *keys, *args))
        failures, load = 0, False
        while True:
            if self.closed:  # a hand-over during shutdown: the client carries it
                return await script(keys=keys, args=args)
            try:
                if load:
                    await self._send(pack(("SCRIPT", "LOAD", script.script)))
                    load = False
                return await self._send(command)
            except NoScriptError:
                load = True
            except _DROPPED:
                failures += 1
                if self.closed:
                    continue
                if failures > self.retries:
                    raise
                await asyncio.sleep(_BACKOFF.compute(failures))

    async def close(self) -> None:
        """Fail the calls queued or in flight (their callers send them again, through the
        client: calls made from now on do not use the connection)."""
        self.closed = True
        for task in (self._connecting, self._reading):
            if task is not None:
                task.cancel()
        self._fail(ConnectionError("the worker is closing"))
        if self._conn is not None:
            await self._conn.disconnect()

    def _send(self, command: bytes) -> asyncio.Future[Any]:
        """Queue a packed command for the next write; its reply resolves the future."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._pending.append((command, future))
        self.calls += 1
        if not self._scheduled:
            # after the callbacks already due: the calls made in this turn of the loop go in
            # the same write
            self._scheduled = True
            loop.call_soon(self._write)
        return future

    def _write(self) -> None:
        """Write the queued calls in one write to the transport's buffer (it sends what the
        socket takes and the rest as it drains; the calls in flight are few, one per
        execution), connecting first when the connection is down."""
        self._scheduled = False
        if self._connecting is not None:
            return  # it writes once connected: the handshake (CLIENT SETNAME) reads replies too
        conn = self._conn
        if conn is None or conn._writer is None:  # not connected (redis-py's own test)
            self._connecting = asyncio.ensure_future(self._connect_then_write())
            return
        batch, self._pending = self._pending, []
        if not batch:
            return
        self._inflight.extend(future for _, future in batch)
        if self._reading is None:
            self._reading = asyncio.ensure_future(self._read(conn))
        self.writes += 1
        conn._writer.writelines([command for command, _ in batch])

    async def _connect_then_write(self) -> None:
        try:
            await self._connected()
        except Exception as exc:  # refused, or anything else: the calls waiting fail (and retry)
            self._fail(exc)
        else:
            self._connecting = None
            self._write()
        finally:
            self._connecting = None

    async def _read(self, conn: AbstractConnection) -> None:
        try:
            while self._inflight:
                reply: Any
                try:
                    reply = await conn.read_response()
                except ResponseError as exc:  # the script's own error (or NOSCRIPT): its caller's
                    reply = exc
                future = self._inflight.popleft()
                if future.done():  # its caller was cancelled: the reply goes nowhere
                    continue
                if isinstance(reply, Exception):
                    future.set_exception(reply)
                else:
                    future.set_result(reply)
        except Exception as exc:  # redis-py has dropped the connection: the calls in flight fail
            self._fail(exc)
        finally:
            self._reading = None

    async def _connected(self) -> AbstractConnection:
        if self._conn is None:  # the pool's settings, not one of its connections
            self._conn = self.pool.make_connection()
            self._conn.client_name = self.name or None
        if not self._conn.is_connected:
            await self._conn.connect()  # type: ignore[no-untyped-call]
        return self._conn

    def _fail(self, exc: BaseException) -> None:
        """The connection dropped: every call in flight or queued fails (and is sent again)."""
        error = exc if isinstance(exc, ConnectionError) else ConnectionError(str(exc))
        waiting = [*self._inflight, *(future for _, future in self._pending)]
        self._inflight.clear()
        self._pending = []
        for future in waiting:
            if not future.done():
                future.set_exception(error)


# What sends a cluster call back to redis-py's cluster client: a slot that moved, a node that is
# down or not serving.
_REROUTE = (MovedError, AskError, TryAgainError, ClusterDownError, *_DROPPED)
NODE_RETRIES = 1  # a node's connection dropped: once more, then the cluster client decides


class _NodeConnections:
    """Connections to one node of a cluster, made with the cluster client's settings."""

    def __init__(self, node: ClusterNode) -> None:
        self.node = node

    def make_connection(self) -> AbstractConnection:
        conn: AbstractConnection = self.node.connection_class(**self.node.connection_kwargs)
        return conn


class NodePipelines:
    """On a Redis Cluster: a Pipelining per node, each call sent to its keys' node (see the
    module)."""

    def __init__(self, cluster: RedisCluster, name: str = "") -> None:
        self.cluster = cluster
        self.name = name
        self.pipes: dict[str, Pipelining] = {}
        self.rerouted = 0  # calls the cluster client carried instead
        self.closed = False

    async def call(self, script: AsyncScript, keys: list[str], args: list[Any]) -> Any:
        node = self.cluster.get_node_from_key(keys[0]) if keys else None
        if node is not None and not self.closed:
            pipe = self.pipes.get(node.name)
            if pipe is None:
                pipe = Pipelining(_NodeConnections(node), self.name, NODE_RETRIES)
                self.pipes[node.name] = pipe
            try:
                return await pipe.call(script, keys, args)
            except _REROUTE:
                self.rerouted += 1
        return await script(keys=keys, args=args)

    async def close(self) -> None:
        self.closed = True
        pipes, self.pipes = list(self.pipes.values()), {}
        for pipe in pipes:
            await pipe.close()
