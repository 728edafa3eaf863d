"""`arq durable.worker.WorkerSettings` (arq's own command) runs workflows from the environment."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from durable.client import Client
from durable.settings import Settings
from tests.conftest import REDIS_URL
from tests.helpers import assert_eventually

# arq's stock worker claims jobs with transactions over several keys: one Redis only
pytestmark = [pytest.mark.timeout(60), pytest.mark.single_node]
ROOT = Path(__file__).resolve().parents[2]


async def test_arq_command_with_worker_settings_runs_instances(client: Client, prefix: str) -> None:
    env = {
        **os.environ,
        "REDIS_URL": REDIS_URL,
        "DURABLE_PREFIX": prefix,
        "DURABLE_WORKFLOWS": "tests.flows:workflows",
        "PYTHONPATH": str(ROOT),
    }
    arq = Path(sys.executable).with_name("arq")
    proc = subprocess.Popen([str(arq), "durable.worker.WorkerSettings"], env=env, cwd=ROOT)
    try:
        await client.create("held", instance_id="a1", params={"hold": 0})

        async def done() -> bool:
            return (await client.get("held", "a1")).details.status == "complete"

        await assert_eventually(done, 20)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


async def test_arq_command_refuses_a_deployment_of_several_partitions(prefix: str) -> None:
    settings = Settings(redis_url=REDIS_URL, prefix=prefix, partitions=4)
    client = Client([], settings)
    try:
        await client.open()  # the deployment now has 4 partitions: 4 queues
    finally:
        await client.aclose()
    env = {
        **os.environ,
        "REDIS_URL": REDIS_URL,
        "DURABLE_PREFIX": prefix,
        "DURABLE_WORKFLOWS": "tests.flows:workflows",
        "PYTHONPATH": str(ROOT),
    }
    arq = Path(sys.executable).with_name("arq")
    done = subprocess.run(
        [str(arq), "durable.worker.WorkerSettings"], env=env, cwd=ROOT, capture_output=True,
        timeout=30,
    )  # fmt: skip
    assert done.returncode != 0
    assert b"this deployment has 4 partitions: run `durable worker` instead" in done.stderr
