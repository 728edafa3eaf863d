"""Real `durable worker` and `durable dev` processes serving their metrics over HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from durable.cli.dev import child_commands
from durable.client import Client
from durable.workflow import RegistryLike
from tests.conftest import REDIS_URL
from tests.helpers import assert_eventually, free_port
from tests.observe.flows import workflows
from tests.observe.support import Samples, final, samples, value

pytestmark = pytest.mark.timeout(120)
ROOT = Path(__file__).resolve().parents[2]
FLOWS = "tests.observe.flows:workflows"


class Services:
    """`durable` commands run as the user runs them, their output kept in files."""

    def __init__(self, prefix: str, folder: Path) -> None:
        self.prefix, self.folder = prefix, folder
        self.procs: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(self, *args: str, **env: str) -> subprocess.Popen[bytes]:
        environment = {k: v for k, v in os.environ.items() if not k.startswith("DURABLE_")}
        environment.pop("PROMETHEUS_MULTIPROC_DIR", None)
        environment.update(REDIS_URL=REDIS_URL, DURABLE_PREFIX=self.prefix, **env)
        environment["PYTHONPATH"] = str(ROOT)
        out = self.folder / f"service-{len(self.procs)}.log"
        with out.open("wb") as sink:
            proc = subprocess.Popen(
                [sys.executable, "-m", "durable.cli.main", *args],
                env=environment, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT,
            )  # fmt: skip
        self.procs.append((proc, out))
        return proc

    def output(self, proc: subprocess.Popen[bytes]) -> str:
        return next(out for p, out in self.procs if p is proc).read_text()

    def stop(self, proc: subprocess.Popen[bytes]) -> int:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(30)
        except subprocess.TimeoutExpired:  # pragma: no cover - a hung service
            proc.kill()
            return proc.wait()

    def stop_all(self) -> None:
        for proc, _ in self.procs:
            self.stop(proc)


@pytest.fixture
def services(prefix: str, tmp_path: Path) -> Iterator[Services]:
    found = Services(prefix, tmp_path)
    yield found
    found.stop_all()


def worker(services: Services, *args: str, **env: str) -> subprocess.Popen[bytes]:
    return services.start("worker", "--workflows", FLOWS, *args, **env)


def scrape(port: int) -> Samples | None:
    try:
        response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2)
    except httpx.TransportError:
        return None
    assert response.status_code == 200
    return samples(response.text)


async def scraped(port: int, name: str, expected: float, **labels: str) -> Samples:
    """Scrape until the sample `name{labels}` reads `expected`; the page that did."""

    async def check() -> Samples | None:
        found = scrape(port)
        return found if found is not None and value(found, name, **labels) == expected else None

    result: Samples = await assert_eventually(check, timeout=30)
    return result


def free_ports(count: int) -> int:
    """The first of `count` consecutive loopback ports that were free a moment ago."""
    for _ in range(50):
        first = free_port()
        socks = []
        try:
            for port in range(first, first + count):
                sock = socket.socket()
                socks.append(sock)
                sock.bind(("127.0.0.1", port))
            return first
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise AssertionError("no consecutive free ports")


async def test_a_worker_serves_its_metrics_on_its_port(
    services: Services, client_factory: Callable[[RegistryLike], Client]
) -> None:
    port = free_port()
    proc = worker(services, "--metrics-port", str(port))
    client = client_factory(workflows)
    await client.create("obs-retry", instance_id="r1")
    done = await final(client, "obs-retry", "r1")
    assert done["details"]["output"] == "attempt 2"

    wf = {"workflow": "obs-retry"}
    found = await scraped(port, "durable_executions_total", 1, **wf, outcome="complete")
    assert value(found, "durable_executions_total", **wf, outcome="suspended") == 2
    assert value(found, "durable_steps_started_total", **wf, type="do") == 1
    assert value(found, "durable_steps_retried_total", **wf, type="do") == 1
    assert value(found, "durable_steps_completed_total", **wf, type="do") == 1
    assert value(found, "durable_steps_completed_total", **wf, type="sleep") == 1
    assert value(found, "durable_step_duration_seconds_count", **wf, result="error") == 1
    assert value(found, "durable_step_duration_seconds_count", **wf, result="ok") == 1
    assert value(found, "durable_timer_lateness_seconds_count", **wf) == 2
    assert value(found, "durable_timer_lateness_seconds_bucket", **wf, le="+Inf") == 2
    assert value(found, "durable_timer_lateness_seconds_bucket", **wf, le="60.0") == 2
    assert value(found, "durable_leases_recovered_total") == 0
    assert any(name == "process_cpu_seconds_total" for name, _ in found)
    assert services.stop(proc) == 0
    assert f"serving metrics at http://127.0.0.1:{port}/metrics" in services.output(proc)


async def test_without_a_port_a_worker_serves_nothing(
    services: Services, client_factory: Callable[[RegistryLike], Client]
) -> None:
    proc = worker(services)
    client = client_factory(workflows)
    await client.create("obs-plain", instance_id="p1", params={"n": 1})
    await final(client, "obs-plain", "p1")
    assert services.stop(proc) == 0
    assert "metrics" not in services.output(proc)


def test_a_port_in_use_is_one_line_and_exit_1(services: Services) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = worker(services, DURABLE_METRICS_PORT=str(port))
        assert proc.wait(30) == 1
    output = services.output(proc)
    assert output.strip().splitlines() == [
        f"Error: cannot serve metrics on 127.0.0.1:{port}: Address already in use"
    ]


def test_a_bad_port_is_a_usage_error(services: Services) -> None:
    proc = worker(services, "--metrics-port", "http")
    assert proc.wait(30) == 2
    assert "Traceback" not in services.output(proc)
    assert "--metrics-port" in services.output(proc)


async def test_multiprocess_mode_serves_the_sum_of_every_worker(
    services: Services, client_factory: Callable[[RegistryLike], Client], tmp_path: Path
) -> None:
    folder = tmp_path / "prometheus"
    folder.mkdir()
    shared = {"PROMETHEUS_MULTIPROC_DIR": str(folder)}
    client = client_factory(workflows)
    first = worker(services, **shared)  # no port: it only writes its values to the folder
    for n in range(6):
        await client.create("obs-plain", instance_id=f"a{n}", params={"n": n})
    for n in range(6):
        await final(client, "obs-plain", f"a{n}")
    assert services.stop(first) == 0

    port = free_port()
    worker(services, "--metrics-port", str(port), **shared)  # has run nothing yet
    wf = {"workflow": "obs-plain"}
    found = await scraped(port, "durable_executions_total", 6, **wf, outcome="complete")
    assert value(found, "durable_steps_completed_total", **wf, type="do") == 6

    for n in range(3):
        await client.create("obs-plain", instance_id=f"b{n}", params={"n": n})
    await scraped(port, "durable_executions_total", 9, **wf, outcome="complete")


def test_dev_gives_each_worker_its_own_metrics_port() -> None:
    commands = child_commands(FLOWS, "127.0.0.1", 8000, 3, metrics_port=9100)
    ports = [
        cmd[cmd.index("--metrics-port") + 1] for name, cmd in commands.items() if name != "api"
    ]
    assert ports == ["9100", "9101", "9102"]
    assert "--metrics-port" not in commands["api"]
    assert all("--metrics-port" not in c for c in child_commands(FLOWS, "h", 1, 2).values())


async def test_durable_dev_serves_metrics_from_every_worker(services: Services) -> None:
    first = free_ports(2)
    api = free_port()
    dev = services.start(
        "dev", "--workflows", FLOWS, "--port", str(api), "--workers", "2",
        DURABLE_METRICS_PORT=str(first),
    )  # fmt: skip

    async def both() -> Any:
        assert dev.poll() is None, services.output(dev)
        return scrape(first) and scrape(first + 1)

    base = f"http://127.0.0.1:{api}"

    async def api_up() -> bool:
        try:
            return httpx.get(f"{base}/health", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    await assert_eventually(both, timeout=60)
    await assert_eventually(api_up, timeout=60)
    created = httpx.post(f"{base}/api/workflows/obs-plain/instances", json={"params": {"n": 1}})
    assert created.status_code == 201

    async def counted() -> bool:
        pages = [scrape(first), scrape(first + 1)]
        label = {"workflow": "obs-plain", "outcome": "complete"}
        runs = [value(page or {}, "durable_executions_total", **label) or 0 for page in pages]
        return sum(runs) == 1

    await assert_eventually(counted, timeout=30)
    api_page = samples(httpx.get(f"{base}/metrics").text)
    assert value(api_page, "durable_instances", workflow="obs-plain", status="complete") == 1
    assert services.stop(dev) == 0
