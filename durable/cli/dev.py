"""`durable dev`: the API and worker(s) in one command, on a Redis of its own when none is set."""

from __future__ import annotations

import logging
import os
import shutil
import sys
import time
from pathlib import Path

import click
import httpx

from durable import logs
from durable.cli.services import (
    PARENT_ENV,
    ServiceFailed,
    check_workflows,
    configuration_errors,
    import_from_cwd,
    log_options,
    start_logging,
    workflows_option,
)
from durable.cli.supervisor import Supervisor

READY_TIMEOUT_S = 30.0
log = logging.getLogger("durable.dev")


def child_commands(
    workflows: str, host: str, port: int, workers: int, metrics_port: int | None = None
) -> dict[str, list[str]]:
    """With `metrics_port` P, worker n serves its metrics on port P + n - 1."""
    base = [sys.executable, "-m", "durable.cli.main"]
    commands = {
        f"worker {n}": [*base, "worker", "--workflows", workflows] for n in range(1, workers + 1)
    }
    if metrics_port is not None:
        for n in range(1, workers + 1):
            commands[f"worker {n}"] += ["--metrics-port", str(metrics_port + n - 1)]
    commands["api"] = [*base, "api", "--workflows", workflows, "--host", host, "--port", str(port)]
    return commands


def public_host(host: str) -> str:
    if host in ("", "0.0.0.0", "::"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def wait_until_ready(health_url: str, supervisor: Supervisor, timeout_s: float) -> int | None:
    """200 once the API is healthy; else the last status seen (None: no answer at all)."""
    deadline = time.monotonic() + timeout_s
    status = None
    while time.monotonic() < deadline and not supervisor.stopping:
        if supervisor.exited() is not None:
            return status
        try:
            status = httpx.get(health_url, timeout=1.0).status_code
            if status == 200:
                return status
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    return status


def durable_command() -> str:
    """How to type this `durable` script here: plain `durable` when the PATH finds this very
    script, else its path (relative to the working directory when inside it)."""
    script = Path(sys.executable).with_name("durable")
    if not script.exists():
        return "durable"
    found = shutil.which("durable")
    if found and Path(found).resolve() == script.resolve():
        return "durable"
    relative = os.path.relpath(script)
    return str(script) if relative.startswith("..") else relative


def banner(
    base_url: str,
    workers: int,
    redis_url: str,
    store: str,
    command: str = "durable",
    dashboard_url: str = "",
) -> str:
    return "\n".join(
        line
        for line in [
            f"durable dev: API at {base_url} with {workers} worker(s); Redis {redis_url} ({store})",
            f"Dashboard: {dashboard_url}" if dashboard_url else "",
            f"Try:  {command} -b {base_url} workflows list",
            "Stop with Ctrl-C.",
        ]
        if line
    )


def say(text: str, *, err: bool = False) -> None:
    """dev's own messages: plain lines for people, or log records under --log-format json."""
    if logs.configured_format() == "json":
        for line in text.splitlines():
            log.log(logging.WARNING if err else logging.INFO, "%s", line)
    else:
        click.echo(text, err=err)


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
@click.option(
    "--metrics-port",
    type=click.IntRange(1, 65535),
    envvar="DURABLE_METRICS_PORT",
    show_envvar=True,
    help="Workers serve Prometheus metrics on this port and the next ones (one each).",
)
@log_options
def dev(
    workflows: str,
    host: str,
    port: int,
    workers: int,
    metrics_port: int | None,
    log_level: str,
    log_format: str,
) -> None:
    """Run the API and worker(s) together. Redis: REDIS_URL if set, else a private redis-server
    from the PATH, else an embedded fakeredis (pip install 'durable[dev]')."""
    from durable import partitions
    from durable.cli.dev_redis import DevRedisError, choose, shown_url
    from durable.errors import PartitionsError
    from durable.settings import Settings

    start_logging(log_level, log_format)
    import_from_cwd()
    with configuration_errors():
        check_workflows(workflows)  # fail here, once, rather than in every child
        settings = Settings.from_env()
        try:
            redis = choose(os.environ, settings.startup_timeout_ms)
        except DevRedisError as exc:
            raise ServiceFailed(str(exc)) from exc
        try:  # once here, rather than in every child: partitions other than Redis holds
            partitions.verify_at_start(Settings.from_env(redis_url=redis.url))
        except PartitionsError:
            redis.stop()
            raise
    base_url = f"http://{public_host(host)}:{port}{settings.mount_path}"
    env = dict(os.environ)
    env.update(REDIS_URL=redis.url, DURABLE_LOG_LEVEL=log_level, DURABLE_LOG_FORMAT=log_format)
    env[PARENT_ENV] = str(os.getpid())
    supervisor = Supervisor(
        child_commands(workflows, host, port, workers, metrics_port),
        env,
        report=lambda m: say(m, err=True),
    )
    dashboard = f"http://{public_host(host)}:{port}/dashboard"
    lines = banner(
        base_url, workers, shown_url(redis), redis.description, durable_command(), dashboard
    )
    try:
        code = _run(supervisor, base_url, lines)
    finally:
        supervisor.shutdown()
        redis.stop()
    click.get_current_context().exit(code)


def _run(supervisor: Supervisor, base_url: str, lines: str) -> int:
    with supervisor.signals_handled():
        supervisor.start()
        status = wait_until_ready(f"{base_url}/health", supervisor, READY_TIMEOUT_S)
        if status == 200:
            say(lines)
        elif not supervisor.stopping and supervisor.exited() is None:
            answer = f"answers {status}" if status else "is not answering"
            say(f"durable dev: the API {answer} at {base_url}/health; still waiting.", err=True)
        return supervisor.wait()
