"""`durable worker` and `durable api`: thin wrappers that start the long-running services.

Their modules are imported inside the commands so admin commands stay light.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import sysconfig
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import click

from durable import logs
from durable.cli.command import DurationMs
from durable.cli.errors import OneLineUsageError
from durable.errors import (
    ConfigurationError,
    InvalidDurationError,
    MetricsServerError,
    PartitionsError,
    RedisUnreachableError,
)

PARENT_ENV = "DURABLE_DEV_PARENT_PID"
DEBUG_ENV = "DURABLE_DEBUG"

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


def log_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--log-level and --log-format (env DURABLE_LOG_LEVEL, DURABLE_LOG_FORMAT)."""
    fn = click.option(
        "--log-format",
        type=click.Choice(logs.FORMATS, case_sensitive=False),
        envvar="DURABLE_LOG_FORMAT",
        show_envvar=True,
        default=logs.DEFAULT_FORMAT,
        show_default=True,
        help="text for people; json for one JSON object per line.",
    )(fn)
    return click.option(
        "--log-level",
        type=click.Choice(logs.LEVELS, case_sensitive=False),
        envvar="DURABLE_LOG_LEVEL",
        show_envvar=True,
        default=logs.DEFAULT_LEVEL,
        show_default=True,
        help="Least severe level logged.",
    )(fn)


def metrics_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--metrics-port and --metrics-host (env DURABLE_METRICS_PORT, DURABLE_METRICS_HOST)."""
    fn = click.option(
        "--metrics-host",
        envvar="DURABLE_METRICS_HOST",
        show_envvar=True,
        default="127.0.0.1",
        show_default=True,
        help="Interface of the metrics port (0.0.0.0: every interface).",
    )(fn)
    return click.option(
        "--metrics-port",
        type=click.IntRange(1, 65535),
        envvar="DURABLE_METRICS_PORT",
        show_envvar=True,
        help="Serve Prometheus metrics at http://HOST:PORT/metrics (default: off).",
    )(fn)


class ServiceFailed(click.ClickException):
    """A service could not start: one line on stderr, in the configured log format (exit 1)."""

    exit_code = 1

    def show(self, file: IO[Any] | None = None) -> None:
        if logs.configured_format() == "json":
            logging.getLogger("durable.cli").error("%s", self.message)
        else:
            click.echo(f"Error: {self.message}", file=file, err=True)


class ServiceMisconfigured(ServiceFailed):
    """Workflows that fail to import, or bad settings under --log-format json: exit 2, as
    usage errors, without the --help hint."""

    exit_code = 2


@contextmanager
def configuration_errors() -> Iterator[None]:
    """A bad registry path or setting is a usage error (one line, exit 2); a Redis that cannot
    be reached at start-up is a failure (one line, exit 1). DURABLE_DEBUG=1 adds the traceback."""
    try:
        yield
    except (ConfigurationError, InvalidDurationError) as exc:
        debug_traceback(exc)
        # workflows that fail to import, or partitions other than Redis holds: not bad usage
        if logs.configured_format() == "json" or isinstance(
            exc, WorkflowsImportError | PartitionsError
        ):
            raise ServiceMisconfigured(str(exc)) from exc
        raise OneLineUsageError(str(exc), click.get_current_context()) from exc
    except (RedisUnreachableError, MetricsServerError) as exc:
        debug_traceback(exc)
        raise ServiceFailed(str(exc)) from exc


def debug_traceback(exc: BaseException) -> None:
    """With DURABLE_DEBUG=1, the traceback of what went wrong (the user's error, when the
    failure wraps one) before the one-line message."""
    if os.environ.get(DEBUG_ENV):
        traceback.print_exception(exc.__cause__ or exc, file=sys.stderr)


class WorkflowsImportError(ConfigurationError):
    """The user's workflows module raised while being imported (a bug there, not bad usage:
    the message names the file and line, and no --help hint follows)."""


def check_workflows(path: str) -> None:
    """Import the registry now, so a mistake in it is one line (with the file and line of the
    error in the user's code) and exit 2, not a traceback from deep inside a service."""
    from durable.workflow import load_registry

    try:
        load_registry(path)
    except ConfigurationError as exc:
        site = user_code_site(exc.__cause__) if exc.__cause__ is not None else None
        if site is None:
            raise
        raise WorkflowsImportError(f"{exc} (at {site})") from exc.__cause__
    except Exception as exc:  # anything the user's module raised while being imported
        detail = " ".join(str(exc).split()) or "no details"
        if isinstance(exc, SyntaxError):
            detail = exc.msg
        site = user_code_site(exc)
        where = f" (at {site})" if site else ""
        raise WorkflowsImportError(
            f"cannot import {path!r}: {type(exc).__name__}: {detail}{where}"
        ) from exc


def user_code_site(exc: BaseException) -> str | None:
    """`/path/flows.py:3`: the innermost frame of the traceback in the user's own code (else
    in an installed package; never Python's import machinery or durable's), or None."""
    if isinstance(exc, SyntaxError) and exc.filename and exc.lineno:
        return f"{exc.filename}:{exc.lineno}"
    paths = sysconfig.get_paths()
    installed = tuple(paths[k] + os.sep for k in ("purelib", "platlib"))
    python = tuple(paths[k] + os.sep for k in ("stdlib", "platstdlib"))
    ours = str(Path(__file__).resolve().parents[1]) + os.sep
    user = package = None
    for frame, line in traceback.walk_tb(exc.__traceback__):
        name = frame.f_code.co_filename
        if name.startswith("<") or str(Path(name).resolve()).startswith(ours):
            continue
        if name.startswith(installed):  # site-packages may sit inside the stdlib folder
            package = f"{name}:{line}"
        elif not name.startswith(python):
            user = f"{name}:{line}"
    return user or package


def start_logging(level: str, fmt: str) -> None:
    logs.configure(level.lower(), fmt.lower())


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
@metrics_options
@log_options
def worker_command(
    workflows: str,
    redis_url: str | None,
    concurrency: int | None,
    burst: bool,
    lease_ttl: str | None,
    metrics_port: int | None,
    metrics_host: str,
    log_level: str,
    log_format: str,
) -> None:
    """Run a worker that executes workflow instances (blocks until SIGTERM or Ctrl-C).

    Exits 1 if Redis does not answer within DURABLE_STARTUP_TIMEOUT (default 10 s)."""
    exit_with_parent()
    start_logging(log_level, log_format)
    import_from_cwd()
    with configuration_errors():
        check_workflows(workflows)
        from durable.worker import run_worker

        run_worker(
            workflows,
            redis_url=redis_url,
            concurrency=concurrency,
            burst=burst,
            lease_ttl=lease_ttl,
            metrics_port=metrics_port,
            metrics_host=metrics_host,
        )


@click.command("api")
@workflows_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option(
    "--port", type=click.IntRange(1, 65535), default=8000, show_default=True, help="Port to bind."
)
@redis_url_option
@log_options
def api_command(
    workflows: str, host: str, port: int, redis_url: str | None, log_level: str, log_format: str
) -> None:
    """Serve the HTTP API (blocks until SIGTERM or Ctrl-C).

    Without Redis it still serves: /health and every route answer 503 until Redis is back."""
    exit_with_parent()
    start_logging(log_level, log_format)
    import_from_cwd()
    with configuration_errors():
        check_workflows(workflows)
        from durable.api import serve
        from durable.settings import Settings

        settings = Settings.from_env(redis_url=redis_url) if redis_url else None
        serve(workflows, host=host, port=port, settings=settings)
