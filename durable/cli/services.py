"""`durable worker` and `durable api`: thin wrappers that start the long-running services.

Their modules are imported inside the commands so admin commands stay light.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from durable.cli.command import DurationMs
from durable.cli.errors import OneLineUsageError

PARENT_ENV = "DURABLE_DEV_PARENT_PID"

workflows_option = click.option(
    "--workflows",
    envvar="DURABLE_WORKFLOWS",
    show_envvar=True,
    required=True,
    metavar="MOD:ATTR",
    help="Import path of the workflow registry, e.g. examples.gallery:workflows.",
)
redis_url_option = click.option(
    "--redis-url", metavar="URL", help="Redis URL (default: env REDIS_URL, else localhost)."
)


@contextmanager
def configuration_errors() -> Iterator[None]:
    """A bad registry path or setting is a usage error: one line, exit 2."""
    from durable.errors import ConfigurationError, InvalidDurationError

    try:
        yield
    except (ConfigurationError, InvalidDurationError) as exc:
        raise OneLineUsageError(str(exc), click.get_current_context()) from exc


def import_from_cwd() -> None:
    """Let `--workflows` name modules in the current directory, as uvicorn and arq do: a
    console script's sys.path starts at its own bin directory, not the working directory."""
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)


def exit_with_parent() -> None:
    """Under `durable dev`, stop (gracefully, via SIGTERM) if dev itself disappears."""
    raw = os.environ.get(PARENT_ENV, "")
    if not raw.isdigit():
        return
    parent = int(raw)

    def check() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=check, name="durable-dev-parent", daemon=True).start()


def _check_duration(ctx: click.Context, param: click.Parameter, value: Any) -> str | None:
    if value is not None:
        DurationMs().convert(value, param, ctx)
    return value if value is None else str(value)


@click.command("worker")
@workflows_option
@redis_url_option
@click.option("--concurrency", type=click.IntRange(min=1), help="Instances advanced at once.")
@click.option("--burst", is_flag=True, help="Exit once there is no work left.")
@click.option(
    "--lease-ttl",
    callback=_check_duration,
    metavar="DURATION",
    help='Lease TTL, e.g. "10 s" (default: env DURABLE_LEASE_TTL or 10 s).',
)
def worker_command(
    workflows: str,
    redis_url: str | None,
    concurrency: int | None,
    burst: bool,
    lease_ttl: str | None,
) -> None:
    """Run a worker that executes workflow instances (blocks until SIGTERM or Ctrl-C)."""
    exit_with_parent()
    import_from_cwd()
    from durable.worker import run_worker

    with configuration_errors():
        run_worker(
            workflows,
            redis_url=redis_url,
            concurrency=concurrency,
            burst=burst,
            lease_ttl=lease_ttl,
        )


@click.command("api")
@workflows_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option(
    "--port", type=click.IntRange(1, 65535), default=8000, show_default=True, help="Port to bind."
)
@redis_url_option
def api_command(workflows: str, host: str, port: int, redis_url: str | None) -> None:
    """Serve the HTTP API (blocks until SIGTERM or Ctrl-C)."""
    exit_with_parent()
    import_from_cwd()
    from durable.api import serve
    from durable.settings import Settings

    with configuration_errors():
        settings = Settings.from_env(redis_url=redis_url) if redis_url else None
        serve(workflows, host=host, port=port, settings=settings)
