"""The supervisor of `durable dev`: children start together and stop together."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

from durable.cli.supervisor import Supervisor
from tests.helpers import wait_until


def sleeper(ready: Path, on_term: str | None = None) -> list[str]:
    """A child that installs its SIGTERM handler, then touches `ready`, then sleeps (the child
    holding on is the scenario). The default handler touches `termed(ready)` and exits 0."""
    if on_term is None:
        on_term = f"lambda *a: (pathlib.Path({str(termed(ready))!r}).touch(), sys.exit(0))"
    code = (
        f"import pathlib, signal, sys, time; signal.signal(signal.SIGTERM, {on_term}); "
        f"pathlib.Path({str(ready)!r}).touch(); time.sleep(60)"
    )
    return [sys.executable, "-c", code]


def termed(ready: Path) -> Path:
    return ready.with_name(ready.name + ".termed")


def wait_for(path: Path) -> None:
    wait_until(path.exists, timeout=10)


def test_supervisor_stops_children_gracefully_on_signal(tmp_path: Path) -> None:
    supervisor = Supervisor({"a": sleeper(tmp_path / "a")}, {}, grace_s=10)
    supervisor.start()
    wait_for(tmp_path / "a")
    # The signal arrives while wait() blocks this thread (the delay is the scenario).
    threading.Timer(0.05, supervisor._on_signal, args=(signal.SIGTERM, None)).start()
    assert supervisor.wait() == 0
    supervisor.shutdown()
    assert supervisor._procs["a"].returncode == 0
    assert termed(tmp_path / "a").exists()  # stopped by SIGTERM, not at the end of its sleep


def test_supervisor_stops_everything_when_one_child_exits(tmp_path: Path) -> None:
    commands = {
        "long": sleeper(tmp_path / "long"),
        "short": [sys.executable, "-c", "raise SystemExit(3)"],
    }
    supervisor = Supervisor(commands, {}, grace_s=10)
    supervisor.start()
    wait_for(tmp_path / "long")
    assert supervisor.wait() == 1
    supervisor.shutdown()
    assert supervisor._procs["long"].returncode == 0
    assert termed(tmp_path / "long").exists()  # stopped by SIGTERM, not at the end of its sleep
    assert supervisor._procs["short"].returncode == 3


def test_supervisor_kills_children_that_ignore_sigterm(tmp_path: Path) -> None:
    stubborn = sleeper(tmp_path / "s", on_term="signal.SIG_IGN")
    supervisor = Supervisor({"s": stubborn}, {}, grace_s=0.5)
    supervisor.start()
    wait_for(tmp_path / "s")
    supervisor.shutdown()
    assert supervisor._procs["s"].returncode == -signal.SIGKILL
