"""How the CLI reports failure: one line on stderr, exit 1 for failed requests, 2 for bad input."""

from __future__ import annotations

import json
from typing import IO, Any

import click
import httpx


class RequestFailed(click.ClickException):
    """The API answered with an error, or could not be reached (exit 1)."""

    exit_code = 1

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(self.message, file=file, err=True)


class OneLineUsageError(click.UsageError):
    """A usage error printed as one line instead of click's usage block (exit 2)."""

    def show(self, file: IO[Any] | None = None) -> None:
        message = " ".join(self.format_message().split()).rstrip(".")
        hint = f" (see '{self.ctx.command_path} --help')" if self.ctx is not None else ""
        click.echo(f"Error: {message}{hint}", file=file, err=True)


class UnexpectedError(click.ClickException):
    """Anything we did not anticipate: still one line, never a traceback (exit 1)."""

    exit_code = 1

    def __init__(self, exc: BaseException) -> None:
        detail = str(exc) or "no details"
        super().__init__(f"unexpected {type(exc).__name__}: {detail}")


def http_failure(response: httpx.Response) -> RequestFailed:
    """`Request failed: <status> <message> (<code>)`, plus one line per validation issue."""
    body = _json_or_none(response)
    message = response.reason_phrase or "error"
    code = ""
    issues: list[Any] = []
    if isinstance(body, dict):
        message = str(body.get("message") or message)
        code = f" ({body['code']})" if body.get("code") else ""
        raw_issues = body.get("issues")
        issues = raw_issues if isinstance(raw_issues, list) else []
    lines = [f"Request failed: {response.status_code} {message}{code}"]
    lines += [_issue_line(issue) for issue in issues]
    return RequestFailed("\n".join(lines))


def network_failure(url: str, exc: Exception) -> RequestFailed:
    reason = str(exc) or type(exc).__name__
    return RequestFailed(f"Request failed: could not reach {url}: {reason}")


def _issue_line(issue: Any) -> str:
    if isinstance(issue, dict):
        path = issue.get("path")
        where = ".".join(str(p) for p in path) if isinstance(path, list) else str(path or "")
        return f"  {where or '(root)'}: {issue.get('message', '')}"
    return f"  {issue}"


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
