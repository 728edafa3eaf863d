"""`durable instances watch`: the live status of one instance until it ends."""

from __future__ import annotations

import json
import shutil
import sys
import time
import unicodedata

import click

from durable.cli import render
from durable.cli.client import Api, JSONDict, path
from durable.cli.command import cli_state, instance_option, with_api, workflow_option

CLEAR_LINE = "\r\x1b[2K"


def progress_line(data: JSONDict) -> str:
    details: JSONDict = data.get("details") or {}
    meta: JSONDict = data.get("meta") or {}
    line = f"{data.get('id')}: {details.get('status')} (run {details.get('runNumber')})"
    step = meta.get("currentStep")
    if step and details.get("status") not in render.TERMINAL:
        line += f" - step {render.step_summary(step)}"
    if meta.get("pauseRequested") and details.get("status") == "running":
        line += " - pause requested"
    return line


def _width(char: str) -> int:
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def fit(line: str, suffix: str, columns: int) -> str:
    """`line` + `suffix` on one terminal row of `columns`: the line is cut (with "…") so the
    suffix stays visible. One column is left free, as some terminals wrap on the last one."""
    room = max(columns - 1, 1)
    line = " ".join(line.split())  # a newline in an error message would break the rewrite
    if sum(map(_width, line + suffix)) <= room:
        return line + suffix
    if sum(map(_width, suffix)) + 1 >= room:
        suffix = ""
    budget = room - sum(map(_width, suffix)) - 1
    kept: list[str] = []
    for char in line:
        budget -= _width(char)
        if budget < 0:
            break
        kept.append(char)
    return "".join(kept) + "…" + suffix


def failure_lines(data: JSONDict, seen: set[tuple[object, ...]]) -> list[str]:
    """A line for each failed attempt of the current step not shown yet."""
    step: JSONDict = (data.get("meta") or {}).get("currentStep") or {}
    lines = []
    for attempt in step.get("failedAttempts") or []:
        mark = (step.get("stepKey"), attempt.get("attempt"), attempt.get("at"))
        if mark not in seen:
            seen.add(mark)
            failed = render.failed_attempt_line(attempt)
            lines.append(f"{data.get('id')}: step {step.get('stepKey')} {failed}")
    return lines


class Display:
    """Rewrites one line in place on a terminal (with a clock, cut to the terminal's width);
    a line per change when piped. Each failed attempt of the current step gets a line of its own.

    With --json, prints the instance as one JSON line each time its status or step changes.
    """

    def __init__(self, *, tty: bool, as_json: bool) -> None:
        self._tty = tty and not as_json
        self._json = as_json
        self._last: str | None = None
        self._seen: set[tuple[object, ...]] = set()
        self._started = time.monotonic()

    def update(self, data: JSONDict) -> None:
        line = progress_line(data)
        failures = failure_lines(data, self._seen)
        if self._tty:
            for failure in failures:
                click.echo(f"{CLEAR_LINE}{failure}", color=True)
            clock = f" [{time.monotonic() - self._started:.0f}s]"
            columns = shutil.get_terminal_size().columns
            click.echo(f"{CLEAR_LINE}{fit(line, clock, columns)}", nl=False, color=True)
        elif self._json:
            if line != self._last or failures:
                click.echo(json.dumps(data, ensure_ascii=False))
        else:
            for failure in failures:
                click.echo(failure)
            if line != self._last:
                click.echo(line)
        self._last = line

    def finish(self, data: JSONDict) -> None:
        if self._tty:
            click.echo(CLEAR_LINE, nl=False, color=True)
        if self._json:
            click.echo(json.dumps(data, ensure_ascii=False))
            return
        for failure in failure_lines(data, self._seen):
            click.echo(failure)
        details: JSONDict = data.get("details") or {}
        click.echo(f"Instance {data.get('id')} {details.get('status')}.")
        for line in render.details_lines(details)[1:]:
            click.echo(line)


@click.command("watch")
@workflow_option
@instance_option
@click.option(
    "--interval",
    "interval_ms",
    type=click.IntRange(min=1),
    default=500,
    show_default=True,
    metavar="MS",
    help="Poll interval.",
)
@with_api
def watch(api: Api, workflow: str, instance_id: str, interval_ms: int) -> None:
    """Show an instance's status and current step until it ends.

    Exits 0 when the instance completes, 1 when it errors or is terminated.
    """
    state = cli_state()
    tty = state.tty if state.tty is not None else sys.stdout.isatty()
    display = Display(tty=tty, as_json=api.options.json)
    url = path(workflow, "instances", instance_id)
    while True:
        data = api.get(url)
        status = (data.get("details") or {}).get("status")
        if status in render.TERMINAL:
            break
        display.update(data)
        state.sleep(interval_ms / 1000)
    display.finish(data)
    click.get_current_context().exit(0 if status == "complete" else 1)
