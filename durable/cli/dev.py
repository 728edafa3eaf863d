"""`durable dev`: the API and worker(s) in one command, on an embedded Redis when none is set."""

from __future__ import annotations

import os
import sys
import time

import click
import httpx

from durable.cli.embedded_redis import EmbeddedRedis
from durable.cli.services import PARENT_ENV, configuration_errors, import_from_cwd, workflows_option
from durable.cli.supervisor import Supervisor

READY_TIMEOUT_S = 30.0


def child_commands(workflows: str, host: str, port: int, workers: int) -> dict[str, list[str]]:
    base = [sys.executable, "-m", "durable.cli.main"]
    commands = {
        f"worker {n}": [*base, "worker", "--workflows", workflows] for n in range(1, workers + 1)
    }
    commands["api"] = [*base, "api", "--workflows", workflows, "--host", host, "--port", str(port)]
    return commands


def public_host(host: str) -> str:
    if host in ("", "0.0.0.0", "::"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def wait_until_ready(health_url: str, supervisor: Supervisor, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not supervisor.stopping:
        if supervisor.exited() is not None:
            return False
        try:
            if httpx.get(health_url, timeout=1.0).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    return False


def banner(base_url: str, workers: int, redis_url: str, embedded: bool) -> str:
    store = "embedded fakeredis; data is lost on exit" if embedded else "from REDIS_URL"
    return "\n".join(
        [
            f"durable dev: API at {base_url} with {workers} worker(s); Redis {redis_url} ({store})",
            f"Try:  durable -b {base_url} workflows list",
            "Stop with Ctrl-C.",
        ]
    )


@click.command("dev")
@workflows_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface for the API.")
@click.option(
    "--port", type=click.IntRange(1, 65535), default=8000, show_default=True, help="API port."
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Worker processes to run.",
)
def dev(workflows: str, host: str, port: int, workers: int) -> None:
    """Run the API and worker(s) together; without REDIS_URL, on an embedded fakeredis."""
    from durable.settings import Settings
    from durable.workflow import load_registry

    import_from_cwd()
    with configuration_errors():
        load_registry(workflows)  # fail here, once, rather than in every child
        mount_path = Settings.from_env().mount_path
    base_url = f"http://{public_host(host)}:{port}{mount_path}"
    env = dict(os.environ)
    redis = None if env.get("REDIS_URL") else EmbeddedRedis()
    if redis is not None:
        env["REDIS_URL"] = redis.url
    env[PARENT_ENV] = str(os.getpid())
    supervisor = Supervisor(child_commands(workflows, host, port, workers), env)
    try:
        code = _run(supervisor, base_url, workers, env["REDIS_URL"], redis is not None)
    finally:
        supervisor.shutdown()
        if redis is not None:
            redis.stop()
    click.get_current_context().exit(code)


def _run(
    supervisor: Supervisor, base_url: str, workers: int, redis_url: str, embedded: bool
) -> int:
    with supervisor.signals_handled():
        supervisor.start()
        if wait_until_ready(f"{base_url}/health", supervisor, READY_TIMEOUT_S):
            click.echo(banner(base_url, workers, redis_url, embedded))
        elif not supervisor.stopping and supervisor.exited() is None:
            click.echo(f"durable dev: the API is not answering at {base_url}/health yet.", err=True)
        return supervisor.wait()
