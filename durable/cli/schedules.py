"""`durable schedules ...`: create, inspect and control a workflow's schedules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from durable.cli import render
from durable.cli.client import Api, JSONDict, path
from durable.cli.command import DurableGroup, emit, parse_json_option, with_api, workflow_option
from durable.cli.errors import OneLineUsageError

OVERLAPS = ("skip", "allow")
CATCHUPS = ("latest", "all", "none")


@click.group(cls=DurableGroup)
def schedules() -> None:
    """Create, inspect and control schedules (start a workflow on cron or every interval)."""


def schedule_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "-s", "--schedule", "schedule_id", required=True, metavar="ID", help="Schedule id."
    )(fn)


def entry_text(data: JSONDict) -> str:
    when = f"cron {data['cron']}" if data.get("cron") else f"every {data.get('every')}"
    lines = [
        f"Schedule {data.get('id')} of {data.get('workflow')}: {when} ({data.get('timezone')})",
        f"Paused: {'yes' if data.get('paused') else 'no'}",
        f"Overlap: {data.get('overlap')}  Catch-up: {data.get('catchup')}",
        f"Params: {render.compact(data.get('params'))}",
        f"Next run: {data.get('nextRunAt')}",
    ]
    if data.get("lastInstanceId"):
        lines.append(f"Last run: {data.get('lastRunAt')} ({data['lastInstanceId']})")
    return "\n".join(lines)


def list_text(data: JSONDict) -> str:
    rows = [
        [
            s.get("id"),
            f"cron {s['cron']}" if s.get("cron") else f"every {s.get('every')}",
            "paused" if s.get("paused") else "active",
            s.get("nextRunAt"),
            s.get("lastInstanceId"),
        ]
        for s in data.get("schedules", [])
    ]
    headers = ["ID", "WHEN", "STATE", "NEXT RUN", "LAST INSTANCE"]
    return render.table(headers, rows) if rows else "No schedules."


@schedules.command("list")
@workflow_option
@with_api
def list_schedules(api: Api, workflow: str) -> None:
    """List a workflow's schedules."""
    emit(api, api.get(path(workflow, "schedules")), list_text)


@schedules.command("get")
@workflow_option
@schedule_option
@with_api
def get(api: Api, workflow: str, schedule_id: str) -> None:
    """Show a schedule: its definition, next and last run."""
    emit(api, api.get(path(workflow, "schedules", schedule_id)), entry_text)


@schedules.command("create")
@workflow_option
@schedule_option
@click.option("--cron", metavar="EXPR", help='Cron expression, e.g. "0 3 * * *".')
@click.option("--every", metavar="DURATION", help='Interval, e.g. "30 s" or "1 h".')
@click.option("--params", metavar="JSON", help="Params of every instance, as JSON.")
@click.option("--timezone", metavar="TZ", help="IANA time zone of the cron fields (UTC).")
@click.option("--overlap", type=click.Choice(OVERLAPS), help="While one still runs (skip).")
@click.option("--catchup", type=click.Choice(CATCHUPS), help="Missed ticks to start (latest).")
@click.option("--paused", is_flag=True, help="Create it paused.")
@with_api
def create(
    api: Api,
    workflow: str,
    schedule_id: str,
    cron: str | None,
    every: str | None,
    params: str | None,
    timezone: str | None,
    overlap: str | None,
    catchup: str | None,
    paused: bool,
) -> None:
    """Create a schedule, or update the one with this id to this definition."""
    if (cron is None) == (every is None):
        raise OneLineUsageError(
            "give exactly one of --cron and --every", click.get_current_context()
        )
    body: JSONDict = {"id": schedule_id, "cron": cron, "every": every}
    body.update(timezone=timezone, overlap=overlap, catchup=catchup, paused=paused or None)
    body = {k: v for k, v in body.items() if v is not None}
    if params is not None:
        body["params"] = parse_json_option(params, "--params")
    reply = api.call("POST", path(workflow, "schedules"), body=body)
    first = "Created" if reply.status_code == 201 else "Saved"
    emit(api, reply.data, lambda d: f"{first} schedule {schedule_id}.\n{entry_text(d)}")


@schedules.command("delete")
@workflow_option
@schedule_option
@with_api
def delete(api: Api, workflow: str, schedule_id: str) -> None:
    """Delete a schedule (instances it started carry on)."""
    reply = api.call("DELETE", path(workflow, "schedules", schedule_id))
    emit(api, reply.data, lambda _: f"Schedule {schedule_id} deleted.")


def _control(action: str, done: str, help_text: str) -> click.Command:
    @workflow_option
    @schedule_option
    @with_api
    def command(api: Api, workflow: str, schedule_id: str) -> None:
        data = api.post(path(workflow, "schedules", schedule_id, action))
        emit(api, data, lambda _: f"Schedule {schedule_id} {done}.")

    return click.command(action, help=help_text)(command)


schedules.add_command(_control("pause", "paused", "Pause a schedule: it starts nothing."))
schedules.add_command(
    _control("resume", "resumed", "Resume a schedule; missed ticks start as its catch-up says.")
)
schedules.add_command(
    _control("trigger", "triggered", "Start the schedule's workflow now (by its overlap policy).")
)
