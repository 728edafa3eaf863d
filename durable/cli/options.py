"""Global client options: accepted before the command group and on every admin command.

The group reads the environment and defaults; a value given on the subcommand wins over both.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import click
import httpx

from durable.cli.errors import OneLineUsageError

DEFAULT_BASE_URL = "http://127.0.0.1:8000/api/workflows"
OPTION_NAMES = ("base_url", "headers", "token", "timeout_ms", "retries", "retry_delay_ms", "json")

Headers = tuple[tuple[str, str], ...]
Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


@dataclass(frozen=True)
class ClientOptions:
    base_url: str = DEFAULT_BASE_URL
    headers: Headers = ()
    token: str | None = field(default=None, repr=False)
    timeout_ms: int = 15_000
    retries: int = 2
    retry_delay_ms: int = 500
    json: bool = False

    def request_headers(self) -> dict[str, str]:
        """Headers sent with every request; `--token` wins over an explicit Authorization."""
        headers = dict(self.headers)
        if self.token:
            headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
            headers["Authorization"] = f"Bearer {self.token}"
        return headers


@dataclass
class CliState:
    """The group's context object. Tests inject a transport, a sleep function and TTY-ness."""

    options: ClientOptions = field(default_factory=ClientOptions)
    transport: httpx.BaseTransport | None = None
    sleep: Callable[[float], None] = time.sleep
    tty: bool | None = None


def parse_header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    name = name.strip()
    if not sep or not name or any(c.isspace() for c in name):
        raise ValueError(f"invalid header {text!r}: expected 'Name: value'")
    return name, value.strip()


def merge_headers(base: Headers, extra: Iterable[tuple[str, str]]) -> Headers:
    """Later headers replace earlier ones of the same (case-insensitive) name."""
    merged = {name.lower(): (name, value) for name, value in base}
    for name, value in extra:
        merged[name.lower()] = (name, value)
    return tuple(merged.values())


def env_headers() -> Headers:
    raw = os.environ.get("DURABLE_HEADERS", "")
    try:
        return tuple(parse_header(part) for part in raw.split(";") if part.strip())
    except ValueError as exc:
        raise OneLineUsageError(f"DURABLE_HEADERS: {exc}") from exc


def _header_callback(ctx: click.Context, param: click.Parameter, value: Any) -> Headers | None:
    if value is None:
        return None
    try:
        return tuple(parse_header(text) for text in value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from exc


def _base_url_callback(ctx: click.Context, param: click.Parameter, value: Any) -> str | None:
    if value is None:
        return None
    try:
        url = httpx.URL(value)
    except httpx.InvalidURL as exc:
        raise click.BadParameter(f"{value!r}: {exc}", ctx=ctx, param=param) from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise click.BadParameter(f"{value!r} is not an http(s) URL", ctx=ctx, param=param)
    return str(value).rstrip("/")


def _option(
    on_group: bool, *decls: str, default: Any = None, envvar: str | None = None, **kwargs: Any
) -> Decorator:
    """On the group an option reads the environment and has a default; on a command it is
    None unless given, so `resolve` can tell "given here" from "inherited"."""
    if not on_group:
        return click.option(*decls, default=None, **kwargs)
    return click.option(
        *decls,
        default=default,
        envvar=envvar,
        show_envvar=envvar is not None,
        show_default=default is not None,
        **kwargs,
    )


def option_decorators(*, on_group: bool) -> list[Decorator]:
    """The seven global options."""
    return [
        _option(
            on_group, "-b", "--base-url", default=DEFAULT_BASE_URL, envvar="DURABLE_BASE_URL",
            callback=_base_url_callback, metavar="URL",
            help="API base URL, including the mount path.",
        ),
        _option(
            on_group, "-H", "--header", "headers", multiple=True, callback=_header_callback,
            metavar="'NAME: VALUE'",
            help="Extra request header (repeatable); env DURABLE_HEADERS, ';'-separated.",
        ),
        _option(
            on_group, "--token", envvar="DURABLE_API_TOKEN", metavar="TOKEN",
            help="Bearer token sent as 'Authorization: Bearer TOKEN'.",
        ),
        _option(
            on_group, "--timeout", "timeout_ms", default=15_000, type=click.IntRange(min=1),
            metavar="MS", help="Per-request timeout in milliseconds.",
        ),
        _option(
            on_group, "--retries", default=2, type=click.IntRange(min=0), metavar="N",
            help="Retries on network errors, 5xx and 429.",
        ),
        _option(
            on_group, "--retry-delay", "retry_delay_ms", default=500, type=click.IntRange(min=0),
            metavar="MS",
            help="Delay before the first retry in ms; doubles on each further retry.",
        ),
        _option(
            on_group, "--json", "json", is_flag=True,
            help="Print the API's JSON response instead of text.",
        ),
    ]  # fmt: skip


def add_options(fn: Callable[..., Any], *, on_group: bool) -> Callable[..., Any]:
    for decorate in reversed(option_decorators(on_group=on_group)):
        fn = decorate(fn)
    return fn


def global_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    return add_options(fn, on_group=True)


def resolve(base: ClientOptions, given: Mapping[str, Any]) -> ClientOptions:
    """Options given explicitly (not None) replace `base`; headers are merged by name."""
    changes = {k: v for k, v in given.items() if v is not None and k != "headers"}
    headers = merge_headers(base.headers, given.get("headers") or ())
    return replace(base, headers=headers, **changes)


def group_options(values: Mapping[str, Any]) -> ClientOptions:
    """The group's options: defaults, then the environment, then flags before the command."""
    base = ClientOptions(headers=env_headers())
    return resolve(base, values)
