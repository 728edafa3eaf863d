"""The supervisor of `durable dev`: children start together and stop together."""

from __future__ import annotations

import signal
import sys
import threading
import time
from pathlib import Path

from durable.cli.supervisor import Supervisor


def sleeper(ready: Path, on_term: str = "lambda *a: sys.exit(0)") -> list[str]:
    """A child that installs its SIGTERM handler, then touches `ready`, then sleeps."""
    code = (
        f"import pathlib, signal, sys, time; signal.signal(signal.SIGTERM, {on_term}); "
        f"pathlib.Path({str(ready)!r}).touch(); time.sleep(60)"
    )
    return [sys.executable, "-c", code]


def wait_for(path: Path, timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def test_supervisor_stops_children_gracefully_on_signal(tmp_path: Path) -> None:
    supervisor = Supervisor({"a": sleeper(tmp_path / "a")}, {}, grace_s=10)
    supervisor.start()
    wait_for(tmp_path / "a")
    threading.Timer(0.05, supervisor._on_signal, args=(signal.SIGTERM, None)).start()
    assert supervisor.wait() == 0
    supervisor.shutdown()
    assert supervisor._procs["a"].returncode == 0


def test_supervisor_stops_everything_when_one_child_exits(tmp_path: Path) -> None:
    commands = {
        "long": sleeper(tmp_path / "long"),
        "short": [sys.executable, "-c", "raise SystemExit(3)"],
    }
    supervisor = Supervisor(commands, {}, grace_s=10)
    supervisor.start()
    wait_for(tmp_path / "long")
    started = time.monotonic()
    assert supervisor.wait() == 1
    supervisor.shutdown()
    assert time.monotonic() - started < 10
    assert supervisor._procs["long"].returncode == 0
    assert supervisor._procs["short"].returncode == 3


def test_supervisor_kills_children_that_ignore_sigterm(tmp_path: Path) -> None:
    stubborn = sleeper(tmp_path / "s", on_term="signal.SIG_IGN")
    supervisor = Supervisor({"s": stubborn}, {}, grace_s=0.5)
    supervisor.start()
    wait_for(tmp_path / "s")
    supervisor.shutdown()
    assert supervisor._procs["s"].returncode == -signal.SIGKILL
