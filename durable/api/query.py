"""Typed reading of query-string values; anything out of range is 400 VALIDATION_ERROR."""

from __future__ import annotations

import re

from starlette.datastructures import QueryParams

from durable.errors import ValidationError
from durable.validation import LIST_STATUSES

_DIGITS = re.compile(r"[0-9]{1,9}")


def _shown(raw: str) -> str:
    return repr(raw if len(raw) <= 40 else raw[:40] + "...")


def _invalid(name: str, message: str) -> ValidationError:
    return ValidationError(
        f"invalid query parameter {name!r}: {message}", [{"path": name, "message": message}]
    )


def integer(
    query: QueryParams, name: str, *, minimum: int, maximum: int | None = None
) -> int | None:
    raw = query.get(name)
    if raw is None:
        return None
    bounds = f"{minimum}-{maximum}" if maximum is not None else f">= {minimum}"
    value = int(raw) if _DIGITS.fullmatch(raw) else None
    if value is None or value < minimum or (maximum is not None and value > maximum):
        raise _invalid(name, f"must be an integer {bounds}, got {_shown(raw)}")
    return value


def choice(query: QueryParams, name: str, choices: tuple[str, ...]) -> str | None:
    raw = query.get(name)
    if raw is None or raw in choices:
        return raw
    raise _invalid(name, f"must be one of {', '.join(choices)}, got {_shown(raw)}")


def boolean(query: QueryParams, name: str, *, default: bool) -> bool:
    raw = choice(query, name, ("true", "false"))
    return default if raw is None else raw == "true"


def text(query: QueryParams, name: str) -> str | None:
    """A free-form value such as a cursor; empty counts as absent (the Client validates it)."""
    return query.get(name) or None


def page_size(query: QueryParams) -> int:
    size = integer(query, "pageSize", minimum=1, maximum=100)
    return 25 if size is None else size


def status(query: QueryParams) -> str | None:
    """The list filter: a status, or waitingForPause (running, pause requested)."""
    return choice(query, "status", LIST_STATUSES)


def version(query: QueryParams) -> str | None:
    """A code version filter, as given: the Client validates it (an empty one is invalid)."""
    return query.get("version")


def order(query: QueryParams) -> str:
    return choice(query, "order", ("asc", "desc")) or "desc"
