"""`durable instances history` and `logs`: what an instance did, and its log lines as they come."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import click

from durable.cli import render
from durable.cli.client import Api, JSONDict, Params, path
from durable.cli.command import cli_state, emit, instance_option, with_api, workflow_option

LOG_PAGE_SIZE = 100
LOG_LEVELS = ("debug", "info", "warn", "error")


def log_filter_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--log-level and --log-category: only log lines of that level / category."""
    fn = click.option(
        "--log-category", help="Only log lines of this category (exact match, e.g. retry)."
    )(fn)
    return click.option(
        "--log-level", type=click.Choice(LOG_LEVELS), help="Only log lines of this level."
    )(fn)


@click.command("history")
@workflow_option
@instance_option
@click.option(
    "--run", "run_number", type=click.IntRange(min=0), help="Run number (default: current)."
)
@click.option("--include-logs", is_flag=True, help="Also show log lines.")
@click.option(
    "--order", type=click.Choice(["asc", "desc"]), help="Order of entries (API default: desc)."
)
@click.option("--page-size", type=click.IntRange(1, 100), help="Entries per list (1-100).")
@click.option("--steps-cursor", help="Continue the steps list from this cursor.")
@click.option("--events-cursor", help="Continue the events list from this cursor.")
@click.option("--logs-cursor", help="Continue the logs list from this cursor.")
@log_filter_options
@with_api
def history(
    api: Api,
    workflow: str,
    instance_id: str,
    run_number: int | None,
    include_logs: bool,
    order: str | None,
    page_size: int | None,
    steps_cursor: str | None,
    events_cursor: str | None,
    logs_cursor: str | None,
    log_level: str | None,
    log_category: str | None,
) -> None:
    """Show an instance's steps, events and (with --include-logs) logs.

    --log-level and --log-category imply --include-logs.
    """
    filtered = log_level is not None or log_category is not None
    query: Params = {
        "runNumber": run_number,
        "includeLogs": True if include_logs or filtered else None,
        "order": order,
        "pageSize": page_size,
        "stepsCursor": steps_cursor,
        "eventsCursor": events_cursor,
        "logsCursor": logs_cursor,
        "logLevel": log_level,
        "logCategory": log_category,
    }
    data = api.get(path(workflow, "instances", instance_id, "history"), query)
    emit(api, data, render.history)


class LogReader:
    """Reads an instance's log lines in order, returning each line once.

    Each read starts again from the cursor of the last page it saw (not from the beginning),
    so following a long log costs one page per poll; seen ids filter the overlap.
    """

    def __init__(
        self,
        api: Api,
        workflow: str,
        instance_id: str,
        run: int | None,
        filters: Params | None = None,
    ) -> None:
        self._api = api
        self._url = path(workflow, "instances", instance_id, "history")
        self._run = run
        self._filters: Params = filters or {}
        self._cursor: str | None = None
        self._seen: set[str] = set()

    def read_new(self) -> list[JSONDict]:
        fresh: list[JSONDict] = []
        cursor = self._cursor
        while True:
            page = self._page(cursor)
            self._cursor = cursor
            fresh += [entry for entry in page.get("logs") or [] if self._is_new(entry)]
            if not (page.get("logsHasNextPage") and page.get("logsCursor")):
                return fresh
            cursor = page["logsCursor"]

    def _page(self, cursor: str | None) -> JSONDict:
        query: Params = {
            "includeLogs": True,
            "order": "asc",
            "pageSize": LOG_PAGE_SIZE,
            "logsCursor": cursor,
            "runNumber": self._run,
            **self._filters,
        }
        return self._api.get(self._url, query)

    def _is_new(self, entry: JSONDict) -> bool:
        key = str(entry.get("id"))
        if key in self._seen:
            return False
        self._seen.add(key)
        return True


def print_logs(api: Api, entries: list[JSONDict]) -> None:
    for entry in entries:
        if api.options.json:
            click.echo(json.dumps(entry, ensure_ascii=False))
        else:
            click.echo(render.log_line(entry))


@click.command("logs")
@workflow_option
@instance_option
@click.option(
    "--run", "run_number", type=click.IntRange(min=0), help="Run number (default: current)."
)
@click.option(
    "-f", "--follow", is_flag=True, help="Keep printing new lines until the instance ends."
)
@click.option(
    "--interval",
    "interval_ms",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    metavar="MS",
    help="Poll interval for --follow.",
)
@log_filter_options
@with_api
def logs(
    api: Api,
    workflow: str,
    instance_id: str,
    run_number: int | None,
    follow: bool,
    interval_ms: int,
    log_level: str | None,
    log_category: str | None,
) -> None:
    """Print an instance's log lines, oldest first (with --json: one JSON object per line)."""
    filters: Params = {"logLevel": log_level, "logCategory": log_category}
    reader = LogReader(api, workflow, instance_id, run_number, filters)
    if not follow:
        entries = reader.read_new()
        print_logs(api, entries)
        if not entries and not api.options.json:
            click.echo("No logs.", err=True)
        return
    instance_url = path(workflow, "instances", instance_id)
    sleep = cli_state().sleep
    while True:
        # Read the status first: once it is terminal, the logs read after it are complete.
        status = (api.get(instance_url).get("details") or {}).get("status")
        print_logs(api, reader.read_new())
        if status in render.TERMINAL:
            return
        sleep(interval_ms / 1000)
