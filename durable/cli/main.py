"""The `durable` console script: the click group and its entry point."""

from __future__ import annotations

import os
import sys
from importlib import metadata
from typing import Any

import click

from durable.cli.admin import admin
from durable.cli.command import DurableGroup
from durable.cli.dev import dev
from durable.cli.instances import instances
from durable.cli.options import CliState, global_options, group_options
from durable.cli.schedules import schedules
from durable.cli.services import api_command, worker_command
from durable.cli.workflows import workflows


def _version() -> str:
    try:
        return metadata.version("durable")
    except metadata.PackageNotFoundError:
        return "unknown"


@click.group(cls=DurableGroup)
@click.version_option(_version(), prog_name="durable")
@global_options
@click.pass_context
def cli(ctx: click.Context, /, **values: Any) -> None:
    """Durable workflows: admin commands over the HTTP API, and the services themselves.

    Global options work here (before the command) and on every admin command (after it);
    the value given after the command wins.
    """
    ctx.ensure_object(CliState).options = group_options(values)


cli.add_command(workflows)
cli.add_command(instances)
cli.add_command(schedules)
cli.add_command(worker_command)
cli.add_command(api_command)
cli.add_command(dev)
cli.add_command(admin)


def main() -> None:
    """Console-script entry point. click reports its own errors; anything else is one line,
    or the full traceback with DURABLE_DEBUG=1."""
    try:
        cli.main(prog_name="durable")
    except Exception as exc:  # outside click's own handling; never show a traceback
        if os.environ.get("DURABLE_DEBUG"):
            raise
        click.echo(f"Error: unexpected {type(exc).__name__}: {exc}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
