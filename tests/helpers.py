"""Test helpers: waiting for asynchronous outcomes without fixed sleeps, and the suite's one
private redis-server (for tests that stop, freeze or restart their Redis)."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from inspect import isawaitable
from typing import Any

import redis
import redis.asyncio.cluster
import redis.cluster

from durable import partitions
from durable.partitions import Layout

# The suite runs twice in `make test`: on one Redis, then (DURABLE_TEST_REDIS=cluster) the
# engine, API, worker and reliability tests on a 3-node Redis Cluster (scripts/test).
CLUSTER = os.environ.get("DURABLE_TEST_REDIS") == "cluster"


def async_redis(url: str, **options: Any) -> Any:
    """An asyncio client for the suite's Redis: a cluster client when it runs on a cluster."""
    if CLUSTER:
        return redis.asyncio.cluster.RedisCluster.from_url(url, **options)
    return redis.asyncio.Redis.from_url(url, **options)


def sync_redis(url: str) -> Any:
    """A blocking client for the suite's Redis: a cluster client when it runs on a cluster."""
    if CLUSTER:
        return redis.cluster.RedisCluster.from_url(url)
    return redis.Redis.from_url(url)


async def layout_of(redis: Any, prefix: str) -> Layout:
    """The partition layout a deployment's Redis holds (one partition when it holds none)."""
    meta = await partitions.read_meta(redis, prefix)
    return Layout.from_fields(prefix, meta) if meta else Layout(prefix)


async def space_of(client: Any, workflow: str, instance_id: str) -> str:
    """The prefix durable.keys takes for an instance's keys, from a Client or a Store: the
    deployment's prefix with one partition, `prefix:{tag}` of its partition with several."""
    store = getattr(client, "store", client)
    return str((await store.open()).space_of(workflow, instance_id))


async def assert_eventually(
    check: Callable[[], Awaitable[Any]], timeout: float = 10.0, interval: float = 0.02
) -> Any:
    """Poll `check` until it returns a truthy value (returned) or raise after `timeout`."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = await check()
            if last:
                return last
        except AssertionError:
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s; last value: {last!r}")
        await asyncio.sleep(interval)


def wait_until(check: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02) -> Any:
    """Synchronous twin of assert_eventually."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s; last value: {last!r}")


async def reply(command: Any) -> Any:
    """The reply of a redis-py asyncio command: `await reply(redis.hgetall(key))`.

    redis-py types many asyncio-client commands (hashes, lists, sets) as `Awaitable[X] | X`,
    which mypy will not await, and its X assumes decode_responses=True where the tests' clients
    answer bytes; so the reply is Any, to be annotated where it is used.
    """
    return await command if isawaitable(command) else command


def iso_ms(stamp: str | datetime) -> int:
    """Epoch milliseconds of a timestamp as the API writes it ("2026-02-02T15:52:06.284Z") or
    as the Client's models hold it (an aware datetime)."""
    moment = datetime.fromisoformat(stamp) if isinstance(stamp, str) else stamp
    return int(moment.timestamp() * 1000)


def as_json(model: Any) -> Any:
    """A Client answer (a durable.models model, or None) as the HTTP API serves it."""
    return None if model is None else model.model_dump(mode="json", by_alias=True)


def free_port() -> int:
    """A loopback TCP port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PrivateRedis:
    """A redis-server of the test's own on a loopback port, with its data in a temp dir.

    AOF with fsync always, so a stop and a `start()` on the same port keep every acknowledged
    write. `args` are extra server options (e.g. "--requirepass", "secret"); `port` picks the
    port ahead of the start (a free one by default). Nothing runs until `start()`; `close()`
    stops it for good and removes its files.
    """

    def __init__(self, *args: str, port: int | None = None) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("these tests need redis-server on the PATH")
        self.binary = binary
        self.args = args
        self.port = free_port() if port is None else port
        self.dir = tempfile.mkdtemp(prefix="durable-test-redis-")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start the server and return once it answers on its port."""
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        args += ["--appendonly", "yes", "--appendfsync", "always", "--dir", self.dir, *self.args]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(self._answers, timeout=20, interval=0.05)

    def _answers(self) -> bool:
        assert self.proc is not None
        assert self.proc.poll() is None, f"redis-server exited with {self.proc.returncode}"
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                # +PONG, or -NOAUTH from a server that wants a password: either way it is up.
                return sock.recv(64).startswith((b"+PONG", b"-NOAUTH"))
        except OSError:
            return False

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the server with `sig` (SIGTERM: a clean shutdown; SIGKILL: a crash)."""
        if self.proc is not None:
            self.proc.send_signal(sig)
            self.proc.wait(20)
            self.proc = None

    def freeze(self) -> None:
        """SIGSTOP: the server keeps its connections but answers nothing until `thaw()`."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def close(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGCONT)
        self.stop(signal.SIGKILL)
        shutil.rmtree(self.dir, ignore_errors=True)
