"""`durable instances bulk ...`: terminate, restart or retry-step many instances at once."""

from __future__ import annotations

import click

from durable.cli.client import Api, JSONDict, path
from durable.cli.command import DurableGroup, DurationMs, emit, with_api, workflow_option
from durable.cli.errors import OneLineUsageError

STATUSES = ("queued", "running", "waiting", "paused", "complete", "errored", "terminated")
DONE = {"terminate": "terminated", "restart": "restarted", "retry-step": "retried"}


@click.group(cls=DurableGroup)
def bulk() -> None:
    """Act on every instance of a workflow in a status and/or among given ids."""


def result_text(action: str, data: JSONDict) -> str:
    return (
        f"Matched {data.get('matched')} instance(s): {data.get('changed')} {DONE[action]}, "
        f"{data.get('skipped')} skipped."
    )


def _command(action: str) -> click.Command:
    @workflow_option
    @click.option("--status", type=click.Choice(STATUSES), help="Instances in this status.")
    @click.option(
        "--id", "ids", multiple=True, metavar="ID", help="An instance id (repeatable, <= 1000)."
    )
    @click.option("--delay", type=DurationMs(), help='retry-step only: wait first, e.g. "2 s".')
    @with_api
    def command(
        api: Api, workflow: str, status: str | None, ids: tuple[str, ...], delay: int | None
    ) -> None:
        if status is None and not ids:
            raise OneLineUsageError(
                "select instances with --status and/or --id", click.get_current_context()
            )
        if delay is not None and action != "retry-step":
            raise OneLineUsageError(
                "--delay applies to retry-step only", click.get_current_context()
            )
        body: JSONDict = {"status": status} if status else {}
        if ids:
            body["ids"] = list(ids)
        if delay is not None:
            body["delayMs"] = delay
        data = api.post(path(workflow, "bulk", action), body)
        emit(api, data, lambda d: result_text(action, d))

    summary = {
        "terminate": "Terminate the selected instances (ended ones are skipped).",
        "restart": "Restart the selected instances (each starts a new run).",
        "retry-step": "Retry the failed step of the selected errored instances.",
    }[action]
    return click.command(action, help=summary)(command)


for _action in DONE:
    bulk.add_command(_command(_action))
