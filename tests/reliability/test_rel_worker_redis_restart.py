"""Running workers ride out a Redis restart (SPEC §4: "workers retry with backoff and carry on
when it returns"): the same processes keep working afterwards, nobody has to restart them."""

from __future__ import annotations

import signal
import time

import pytest

from durable.client import Client
from durable.settings import Settings
from tests.helpers import PrivateRedis, assert_eventually
from tests.reliability import flows
from tests.reliability.support import Workers

pytestmark = pytest.mark.timeout(90)

# A worker that is between two commands when Redis goes is the one that suffers; a few restarts
# make sure the test sees that moment.
RESTARTS = 3


async def run_one(client: Client, iid: str) -> None:
    await client.create("rel-loop", instance_id=iid, params={"n": 3})

    async def done() -> bool:
        return (await client.get("rel-loop", iid)).details.status == "complete"

    await assert_eventually(done, 20, interval=0.05)


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
async def test_running_workers_survive_a_redis_restart(
    private_redis: PrivateRedis, prefix: str, how: signal.Signals
) -> None:
    workers = Workers(private_redis.url, prefix)
    client = Client(flows.workflows, Settings(redis_url=private_redis.url, prefix=prefix))
    try:
        procs = [workers.start() for _ in range(3)]
        await run_one(client, "before")  # the workers are up and polling
        for _ in range(RESTARTS):
            private_redis.stop(how)
            time.sleep(1.0)  # the outage itself, not a wait for an outcome
            private_redis.start()
        try:
            await run_one(client, "after")
        finally:
            exited = {p.pid: p.returncode for p in procs if p.poll() is not None}
            assert exited == {}, f"worker processes exited when Redis restarted: {exited}"
    finally:
        workers.stop()
        await client.aclose()
