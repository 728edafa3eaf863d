"""Plumbing shared by every command: the one-line error group, the API decorator, output."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from typing import Any

import click

from durable.cli.client import Api, JSONDict
from durable.cli.errors import OneLineUsageError, UnexpectedError
from durable.cli.options import OPTION_NAMES, CliState, add_options, resolve


class DurableGroup(click.Group):
    """A click group whose usage errors are one line and whose surprises never show a traceback.

    Set DURABLE_DEBUG=1 to let unexpected exceptions through with their traceback.
    """

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as exc:
            raise _one_line(exc) from exc

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            raise _one_line(exc) from exc
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            if os.environ.get("DURABLE_DEBUG"):
                raise
            raise UnexpectedError(exc) from exc


def _one_line(exc: click.UsageError) -> click.UsageError:
    if isinstance(exc, OneLineUsageError | click.exceptions.NoArgsIsHelpError):
        return exc
    return OneLineUsageError(exc.format_message(), exc.ctx)


def cli_state() -> CliState:
    return click.get_current_context().ensure_object(CliState)


def with_api(fn: Callable[..., None]) -> Callable[..., None]:
    """Give a command the global options and call it with a ready `Api` as first argument.

    Put it directly above the `def`, so the global options follow the command's own in --help.
    """

    @functools.wraps(fn)
    def wrapper(**kwargs: Any) -> None:
        state = cli_state()
        given = {name: kwargs.pop(name) for name in OPTION_NAMES}
        options = resolve(state.options, given)
        with Api(options, transport=state.transport, sleep=state.sleep) as api:
            fn(api, **kwargs)

    return add_options(wrapper, on_group=False)


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def emit(api: Api, data: JSONDict, text: Callable[[JSONDict], str]) -> None:
    """The API's JSON with --json, otherwise the readable text."""
    if api.options.json:
        print_json(data)
    else:
        click.echo(text(data))


def parse_json_option(value: str | None, option: str) -> Any:
    """Parse --params/--payload; invalid JSON is a usage error (exit 2)."""
    if value is None:
        return None
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise OneLineUsageError(
            f"{option} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            click.get_current_context(),
        ) from exc


def workflow_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("-w", "--workflow", required=True, metavar="NAME", help="Workflow name.")(
        fn
    )


def instance_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "-i", "--instance", "instance_id", required=True, metavar="ID", help="Instance id."
    )(fn)


class DurationMs(click.ParamType[int]):
    """A duration like "2 s" or "250" (ms), converted with durable's own parser."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        from durable.durations import to_ms  # lazy: keeps admin commands light
        from durable.errors import InvalidDurationError

        try:
            return to_ms(str(value))
        except InvalidDurationError as exc:
            self.fail(str(exc), param, ctx)
