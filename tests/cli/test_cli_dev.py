"""`durable dev`: the product in one command, on an embedded Redis."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from cli_support import (
    FLOWS,
    api_is_up,
    durable,
    durable_script,
    eventually,
    free_port,
    service_env,
    stop,
)

from durable.cli.dev import banner, child_commands, public_host


def test_child_commands_and_banner() -> None:
    commands = child_commands("examples.gallery:workflows", "127.0.0.1", 8123, 2)
    assert list(commands) == ["worker 1", "worker 2", "api"]
    assert commands["api"][1:] == [
        "-m", "durable.cli.main", "api", "--workflows", "examples.gallery:workflows",
        "--host", "127.0.0.1", "--port", "8123",
    ]  # fmt: skip
    assert commands["worker 2"][3:] == ["worker", "--workflows", "examples.gallery:workflows"]
    assert public_host("0.0.0.0") == "127.0.0.1" and public_host("::1") == "[::1]"
    text = banner("http://127.0.0.1:8123/api/workflows", 2, "redis://127.0.0.1:1/0", True)
    assert "Try:  durable -b http://127.0.0.1:8123/api/workflows workflows list" in text


def test_durable_dev_runs_the_product_on_embedded_redis(tmp_path: Path) -> None:
    script = durable_script()
    assert script is not None
    port = free_port()
    env = service_env()
    env.pop("REDIS_URL", None)
    out_path = tmp_path / "dev.out"
    with out_path.open("w") as out:
        proc = subprocess.Popen(
            [script, "dev", "--workflows", FLOWS, "--port", str(port)],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        eventually(lambda: "Try:" in out_path.read_text() or proc.poll() is not None, timeout=40)
        text = out_path.read_text()
        base = f"http://127.0.0.1:{port}/api/workflows"
        assert f"Try:  durable -b {base} workflows list" in text, text
        assert "embedded fakeredis" in text

        created = durable("-b", base, "--json", "instances", "create", "-w", "cli-approval")
        iid = json.loads(created.stdout)["id"]
        sent = durable("-b", base, "instances", "send-event", "-w", "cli-approval", "-i", iid,
                       "-t", "approval", "--payload", '{"approved":true}')  # fmt: skip
        assert sent.returncode == 0, sent.stderr
        watch = durable("-b", base, "instances", "watch", "-w", "cli-approval", "-i", iid,
                        "--interval", "50")  # fmt: skip
        assert watch.returncode == 0, watch.stdout + watch.stderr + out_path.read_text()
    finally:
        code = stop(proc, timeout=30)
    assert code == 0, out_path.read_text()
    assert not api_is_up(f"http://127.0.0.1:{port}/api/workflows")
