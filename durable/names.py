"""The rules for names: workflows, versions, instance ids and event types share one pattern;
step names and patch change ids have their own, looser rule, and make the run's step keys."""

from __future__ import annotations

import re

from durable.errors import InvalidStepError

NAME_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:-]*$")
WORKFLOW_NAME_MAX = 64
VERSION_MAX = 64
ID_MAX = 128  # instance ids, event types and event ids
STEP_NAME_MAX = 200  # step names and patch change ids


def valid_name(value: object, max_length: int) -> bool:
    """1-`max_length` characters of letters, digits and _ . : - (not starting with . : -)."""
    return (
        isinstance(value, str) and 0 < len(value) <= max_length and bool(NAME_PATTERN.match(value))
    )


def check_step_name(name: object, what: str = "step name") -> str:
    """A step name (or patch change id): any 1-200 characters but '#', which step keys use."""
    if not isinstance(name, str) or not 0 < len(name) <= STEP_NAME_MAX or "#" in name:
        raise InvalidStepError(
            f"invalid {what} {name!r}: 1-{STEP_NAME_MAX} characters, without '#'"
        )
    return name


def step_key(name: str, call: int) -> str:
    """The key of the `call`-th call (from 0) of a step name in one pass: "name", "name#1", ..."""
    return name if call == 0 else f"{name}#{call}"


def patch_key(change_id: str) -> str:
    """Markers live beside step keys without ever meeting one: a step key's `#` is followed by
    digits only."""
    return f"{check_step_name(change_id, 'change id')}#patch"
