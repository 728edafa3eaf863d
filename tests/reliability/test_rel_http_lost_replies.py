"""An HTTP reply lost in transit: the API server did the work, the connection dropped before the
answer came back, and the CLI retried the request.

A proxy in front of a real uvicorn server forwards the first POST, swallows the server's reply
and closes the CLI's connection; the real `durable` console script then retries. The key the CLI
sends with every POST must make the retry answer like the first call instead of acting again.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from durable import workflow
from durable.settings import Settings
from tests.reliability.support import MOUNT, api_server

pytestmark = pytest.mark.timeout(60)

CLI = Path(sys.executable).with_name("durable")


def _second_attempt_succeeds(ctx: Any) -> str:
    if ctx.attempt < 2:
        raise RuntimeError("the first attempt fails")
    return "done"


@workflow("rel-held")
async def held(event: Any, step: Any) -> None:
    await step.wait_for_event("hold", type="never", timeout="1 h")


@workflow("rel-second-try")
async def second_try(event: Any, step: Any) -> str:
    result: str = await step.do("once-more", _second_attempt_succeeds)
    return result


WORKFLOWS = {"held": held, "second-try": second_try}


class FirstReplyDropper:
    """A TCP proxy in front of the API. It forwards everything, except that the first POST's
    reply is swallowed once the server has sent it, and the client's connection is closed."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream = ("127.0.0.1", upstream_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.armed = True
        self.dropped = 0
        self.posts = 0
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}{MOUNT}"

    def close(self) -> None:
        _close(self.listener)  # shutdown wakes the accepting thread
        for sock in self._sockets:
            _close(sock)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.upstream)
            self._sockets += [client, upstream]
            drop = threading.Event()
            threading.Thread(
                target=self._requests, args=(client, upstream, drop), daemon=True
            ).start()
            threading.Thread(
                target=self._replies, args=(client, upstream, drop), daemon=True
            ).start()

    def _requests(
        self, client: socket.socket, upstream: socket.socket, drop: threading.Event
    ) -> None:
        with contextlib.suppress(OSError):
            while data := client.recv(65536):
                if data.startswith(b"POST "):
                    with self._lock:
                        self.posts += 1
                        if self.armed:
                            self.armed = False
                            drop.set()  # before the request leaves: its reply cannot beat it
                upstream.sendall(data)
        _close(upstream)

    def _replies(
        self, client: socket.socket, upstream: socket.socket, drop: threading.Event
    ) -> None:
        with contextlib.suppress(OSError):
            while data := upstream.recv(65536):
                if drop.is_set():
                    with self._lock:
                        self.dropped += 1
                    break  # the server answered, so it did the work; the answer goes nowhere
                client.sendall(data)
        _close(client)
        _close(upstream)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


@pytest.fixture
def server(settings: Settings) -> Iterator[str]:
    api_settings = replace(settings, enable_runner_tick=True, mount_path=MOUNT, api_token=None)
    with api_server(api_settings, WORKFLOWS) as base:
        yield f"{base}{MOUNT}"


@pytest.fixture
def proxy(server: str) -> Iterator[FirstReplyDropper]:
    port = httpx.URL(server).port
    assert port is not None
    dropper = FirstReplyDropper(port)
    yield dropper
    dropper.close()


def durable_cli(base_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The installed console script, retrying quickly (network errors and 5xx)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DURABLE_")}
    command = [str(CLI), *args, "-b", base_url, "--retries", "2", "--retry-delay", "20"]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=30)


def instance(server: str, wf: str, iid: str) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(f"{server}/{wf}/instances/{iid}").json()
    return body


def create(server: str, wf: str, iid: str) -> None:
    assert httpx.post(f"{server}/{wf}/instances", json={"id": iid}).status_code == 201


def tick_until(server: str, wf: str, iid: str, status: str) -> None:
    for _ in range(20):
        if instance(server, wf, iid)["details"]["status"] == status:
            return
        assert httpx.post(f"{server}/_runner/tick").status_code == 200
    raise AssertionError(f"{wf}/{iid} never reached {status}: {instance(server, wf, iid)}")


def test_a_restart_whose_reply_was_lost_starts_one_new_run(
    server: str, proxy: FirstReplyDropper
) -> None:
    create(server, "rel-held", "restart-me")
    done = durable_cli(proxy.url, "instances", "restart", "-w", "rel-held", "-i", "restart-me")
    assert done.returncode == 0, done.stderr
    assert (proxy.dropped, proxy.posts) == (1, 2)
    assert instance(server, "rel-held", "restart-me")["details"]["runNumber"] == 1


def test_a_terminate_whose_reply_was_lost_succeeds(server: str, proxy: FirstReplyDropper) -> None:
    create(server, "rel-held", "stop-me")
    done = durable_cli(proxy.url, "instances", "terminate", "-w", "rel-held", "-i", "stop-me")
    assert done.returncode == 0, done.stderr
    assert "Instance stop-me terminated." in done.stdout
    assert (proxy.dropped, proxy.posts) == (1, 2)
    assert instance(server, "rel-held", "stop-me")["details"]["status"] == "terminated"


def test_a_retry_step_whose_reply_was_lost_reopens_the_step_once(
    server: str, proxy: FirstReplyDropper
) -> None:
    create(server, "rel-second-try", "again")
    tick_until(server, "rel-second-try", "again", "errored")
    args = ("instances", "retry-step", "-w", "rel-second-try", "-i", "again", "--json")
    done = durable_cli(proxy.url, *args)
    assert done.returncode == 0, done.stderr
    assert (proxy.dropped, proxy.posts) == (1, 2)
    assert '"maxAttempts": 2' in done.stdout
    current = instance(server, "rel-second-try", "again")["meta"]["currentStep"]
    assert (current["attempts"], current["maxAttempts"]) == (1, 2)
    tick_until(server, "rel-second-try", "again", "complete")
    current = instance(server, "rel-second-try", "again")["meta"]["currentStep"]
    assert (current["attempts"], current["maxAttempts"]) == (2, 2)


def test_without_a_key_the_same_lost_reply_restarts_twice(
    server: str, proxy: FirstReplyDropper
) -> None:
    """Why the key exists: a client that retries the same way but sends no key acts twice."""
    create(server, "rel-held", "twice")
    url = f"{proxy.url}/rel-held/instances/twice/restart"
    with pytest.raises(httpx.TransportError):
        httpx.post(url)
    assert httpx.post(url).status_code == 200
    assert proxy.dropped == 1
    assert instance(server, "rel-held", "twice")["details"]["runNumber"] == 2
