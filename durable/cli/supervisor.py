"""Child processes for `durable dev`: started together, stopped together."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from types import FrameType

import click

GRACE_S = 20.0


class Supervisor:
    """Runs child processes; stops them all (SIGTERM, then SIGKILL after a grace period)
    when one exits, or when we get SIGINT/SIGTERM. A second signal kills at once."""

    def __init__(
        self,
        commands: Mapping[str, list[str]],
        env: Mapping[str, str],
        grace_s: float = GRACE_S,
        report: Callable[[str], None] | None = None,
    ) -> None:
        self._report = report or (lambda message: click.echo(message, err=True))
        self._commands = commands
        self._env = dict(env)
        self._grace_s = grace_s
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._stop = threading.Event()
        self._signals = 0

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def start(self) -> None:
        for name, command in self._commands.items():
            # A process group of their own: a terminal's Ctrl-C reaches only us, and we forward
            # exactly one SIGTERM, so each child shuts down gracefully once.
            self._procs[name] = subprocess.Popen(command, env=self._env, process_group=0)

    @contextmanager
    def signals_handled(self) -> Iterator[None]:
        previous = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._signals += 1
        if self._signals > 1:
            self._kill_all()
        self._stop.set()

    def exited(self) -> tuple[str, int] | None:
        for name, proc in self._procs.items():
            if proc.poll() is not None:
                return name, proc.returncode
        return None

    def wait(self) -> int:
        """Block until a signal (exit 0) or a child exiting on its own (exit 1)."""
        while not self._stop.wait(0.2):
            dead = self.exited()
            if dead is not None:
                self._report(f"durable dev: {dead[0]} exited with code {dead[1]}; stopping.")
                return 1
        return 0

    def shutdown(self) -> None:
        for proc in self._procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self._grace_s
        for proc in self._procs.values():
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def _kill_all(self) -> None:
        for proc in self._procs.values():
            if proc.poll() is None:
                proc.kill()
