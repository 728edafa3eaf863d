"""`durable dev` given REDIS_URL runs the product on that Redis: on the cluster pass, a Redis
Cluster it finds by itself (its API and worker children too), end to end over HTTP."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import REDIS_URL
from tests.helpers import free_port, wait_until

pytestmark = pytest.mark.timeout(90)
ROOT = Path(__file__).resolve().parents[2]


def test_durable_dev_with_a_redis_url_runs_instances_end_to_end(
    prefix: str, tmp_path: Path
) -> None:
    port = free_port()
    env = {**os.environ, "REDIS_URL": REDIS_URL, "DURABLE_PREFIX": prefix, "PYTHONPATH": str(ROOT)}
    env.pop("DURABLE_PARTITIONS", None)
    log = (tmp_path / "dev.log").open("wb")
    command = [sys.executable, "-m", "durable.cli.main", "dev", "--workflows"]
    command += ["tests.flows:workflows", "--port", str(port)]
    proc = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/api/workflows"
    try:

        def healthy() -> bool:
            try:
                return httpx.get(f"{base}/health", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(healthy, timeout=45, interval=0.1)
        made = httpx.post(f"{base}/held/instances", json={"id": "d1", "params": {"hold": 0}})
        assert made.status_code == 201, made.text

        def complete() -> bool:
            got = httpx.get(f"{base}/held/instances/d1", timeout=5).json()
            return bool(got["details"]["status"] == "complete")

        wait_until(complete, timeout=30, interval=0.1)
        listed = httpx.get(f"{base}/held/instances", timeout=5).json()
        assert [i["id"] for i in listed["instances"]] == ["d1"]
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        assert 'durable_instances{status="complete",workflow="held"} 1.0' in metrics
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
