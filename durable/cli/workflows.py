"""`durable workflows list`: the workflows the API serves."""

from __future__ import annotations

import click

from durable.cli import render
from durable.cli.client import Api
from durable.cli.command import DurableGroup, emit, with_api


@click.group(cls=DurableGroup)
def workflows() -> None:
    """Inspect the registered workflows."""


@workflows.command("list")
@with_api
def list_workflows(api: Api) -> None:
    """List the workflows the API serves."""
    emit(api, api.get("/"), render.workflows)
