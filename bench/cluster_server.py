"""A private, throw-away Redis Cluster of N primaries on free loopback ports (never a shared
one): `with ClusterServer(3) as cluster:`, as scripts/redis-cluster-env starts for the tests."""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from redis import Redis

BUS_OFFSET = 10_000  # a node's cluster bus port is its port + 10000


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(count: int) -> list[int]:
    """Ports p with p and its bus port p + 10000 free a moment ago."""
    found: list[int] = []
    while len(found) < count:
        port = random.randint(20_000, 50_000)
        if port not in found and _free(port) and _free(port + BUS_OFFSET):
            found.append(port)
    return found


class ClusterServer:
    def __init__(self, primaries: int = 3) -> None:
        self.ports = free_ports(primaries)
        self.dir = Path(tempfile.mkdtemp(prefix="durable-bench-cluster-"))
        self.url = f"redis://127.0.0.1:{self.ports[0]}/0"
        self.procs: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> ClusterServer:
        binary, cli = shutil.which("redis-server"), shutil.which("redis-cli")
        if binary is None or cli is None:
            raise SystemExit("the cluster scenario needs redis-server and redis-cli on PATH")
        for port in self.ports:
            args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
            args += ["--appendonly", "no", "--cluster-enabled", "yes"]
            args += ["--cluster-config-file", f"nodes-{port}.conf", "--logfile", f"{port}.log"]
            self.procs.append(subprocess.Popen(args, cwd=self.dir))
        for port in self.ports:
            self._wait(lambda p=port: Redis(port=p).ping())
        nodes = [f"127.0.0.1:{port}" for port in self.ports]
        create = [cli, "--cluster", "create", *nodes, "--cluster-replicas", "0", "--cluster-yes"]
        subprocess.run(create, check=True, capture_output=True, timeout=60)
        for port in self.ports:
            self._wait(lambda p=port: b"cluster_state:ok" in Redis(port=p).execute_command(
                "CLUSTER", "INFO"
            ))  # fmt: skip
        return self

    def _wait(self, ready: object, timeout_s: float = 20.0) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if ready():  # type: ignore[operator]
                    return
            except Exception:  # not up yet
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"the bench cluster did not start; see {self.dir}")
            time.sleep(0.05)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def __exit__(self, *exc: object) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
