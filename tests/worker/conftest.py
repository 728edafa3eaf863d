"""Fixtures for tests that run real worker processes."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from durable import keys
from durable.client import Client
from durable.settings import Settings
from tests import flows
from tests.conftest import REDIS_URL
from tests.helpers import reply, space_of

ROOT = Path(__file__).resolve().parents[2]


class Procs:
    """Worker processes of one test. Each writes its log to a file of its own (a pipe nobody
    reads would block a worker that logs more than the pipe holds); the logs' ends are printed
    when the test ends, which pytest shows when it failed."""

    def __init__(self, prefix: str, logdir: Path) -> None:
        self.prefix = prefix
        self.redis_url = REDIS_URL
        self.logdir = logdir
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(
        self,
        lease_ttl: str = "2 s",
        grace: str = "10 s",
        *,
        concurrency: int = 50,
        burst: bool = False,
    ) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "REDIS_URL": self.redis_url,
            "DURABLE_PREFIX": self.prefix,
            "DURABLE_SHUTDOWN_GRACE": grace,
            "PYTHONPATH": str(ROOT),
        }
        code = (
            "from durable.worker import run_worker; "
            f"run_worker('tests.flows:workflows', lease_ttl={lease_ttl!r}, "
            f"concurrency={concurrency}, burst={burst})"
        )
        with (self.logdir / f"worker-{len(self.procs)}.log").open("wb") as log:
            proc = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=ROOT, stderr=log)
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for n, proc in enumerate(self.procs):
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)
            lines = (self.logdir / f"worker-{n}.log").read_text(errors="replace").splitlines()
            print(f"-- worker {n} (pid {proc.pid}), exit {proc.returncode}, last lines:")
            print("\n".join(lines[-40:]))


@pytest.fixture
def procs(prefix: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Procs]:
    monkeypatch.setenv("DURABLE_PREFIX", prefix)  # tests.flows.counter_key, here and in workers
    group = Procs(prefix, tmp_path)
    yield group
    group.stop()


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[Client]:
    c = Client(flows.workflows, settings)
    yield c
    await c.aclose()


async def counter(redis: Redis, iid: str, step: str) -> int:
    return int(await redis.get(flows.counter_key(iid, step)) or 0)


async def status(client: Client, wf: str, iid: str) -> str:
    return (await client.get(wf, iid)).details.status


async def owner_pid(redis: Redis, client: Client, wf: str, iid: str) -> int:
    key = keys.instance_key(await space_of(client, wf, iid), wf, iid)
    owner = (await reply(redis.hget(key, "owner")) or b"").decode()
    return int(owner.rpartition(":")[2]) if owner else 0
