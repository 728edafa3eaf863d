"""Checks on everything a client sends: ids, types, sizes, cursors, params."""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

import pydantic

from durable.errors import (
    InvalidCursorError,
    InvalidInstanceIdError,
    ParamsInvalidError,
    PayloadTooLargeError,
    ValidationError,
)
from durable.names import ID_MAX, valid_name
from durable.records import dumps
from durable.types import Status
from durable.workflow import Workflow


def instance_id(value: Any) -> str:
    if not valid_name(value, ID_MAX):
        raise InvalidInstanceIdError(
            f"invalid instance id {value!r}: 1-{ID_MAX} characters of letters, digits and "
            "_ . : - (not starting with . : -)"
        )
    return str(value)


def event_type(value: Any) -> str:
    if not valid_name(value, ID_MAX):
        raise ValidationError(
            f"invalid event type {value!r}: 1-{ID_MAX} characters of letters, digits and _ . : -",
            [{"path": "type", "message": "invalid event type"}],
        )
    return str(value)


def event_id(value: Any) -> str:
    if not valid_name(value, ID_MAX):
        raise ValidationError(
            f"invalid event id {value!r}", [{"path": "id", "message": "invalid event id"}]
        )
    return str(value)


IDEMPOTENCY_KEY_MAX = 128
_IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9_.:-]+")


def idempotency_key(value: Any) -> str | None:
    """An `Idempotency-Key`: 1-128 characters of letters, digits and _ . : - (None: no key)."""
    if value is None:
        return None
    text = value if isinstance(value, str) else ""
    if len(text) > IDEMPOTENCY_KEY_MAX or not _IDEMPOTENCY_KEY.fullmatch(text):
        raise ValidationError(
            f"invalid Idempotency-Key {str(value)[:40]!r}: 1-{IDEMPOTENCY_KEY_MAX} characters of "
            "letters, digits and _ . : -",
            [{"path": "Idempotency-Key", "message": "invalid idempotency key"}],
        )
    return text


def sized_json(value: Any, what: str, limit: int) -> str:
    try:
        encoded = dumps(value)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{what} must be JSON: {exc}") from exc
    size = len(encoded.encode())
    if size > limit:
        raise PayloadTooLargeError(what, size, limit)
    return encoded


def params(workflow: Workflow, value: Any) -> Any:
    """Validate params against the workflow's model; returns the JSON form to store."""
    if value is None:
        value = {}
    if workflow.params is None:
        return value
    try:
        model = workflow.params.model_validate(value)
    except pydantic.ValidationError as exc:
        issues = [
            {"path": ".".join(str(p) for p in err["loc"]), "message": err["msg"]}
            for err in exc.errors()
        ]
        raise ParamsInvalidError(f"params do not match workflow {workflow.name!r}", issues) from exc
    return model.model_dump(mode="json")


def page_size(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 100:
        raise ValidationError(
            "pageSize must be an integer from 1 to 100",
            [{"path": "pageSize", "message": "must be 1-100"}],
        )
    return value


WAITING_FOR_PAUSE = "waitingForPause"
LIST_STATUSES = (*(s.value for s in Status), WAITING_FOR_PAUSE)


def status(value: Any) -> str | None:
    """A list filter: one of the seven statuses, or `waitingForPause` (the original client's name
    for a running instance whose pause is requested but not yet taken)."""
    if value is None:
        return None
    if value == WAITING_FOR_PAUSE:
        return WAITING_FOR_PAUSE
    try:
        return Status(value)
    except ValueError as exc:
        raise ValidationError(
            f"status must be one of {', '.join(LIST_STATUSES)}",
            [{"path": "status", "message": "unknown status"}],
        ) from exc


def order(value: Any) -> str:
    if value not in ("asc", "desc"):
        raise ValidationError(
            "order must be asc or desc", [{"path": "order", "message": "asc or desc"}]
        )
    return str(value)


def encode_cursor(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def decode_cursor(
    value: str | None, fields: tuple[str, ...], *, param: str = ""
) -> dict[str, Any] | None:
    """A cursor this API produced, or INVALID_CURSOR (its issue names `param`)."""
    if value is None or value == "":
        return None
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        data = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise _bad_cursor(value, param) from exc
    if not isinstance(data, dict) or set(data) != set(fields):
        raise _bad_cursor(value, param)
    for name, item in data.items():
        number = name in ("s", "p")
        kind_ok = (
            isinstance(item, int) and not isinstance(item, bool)
            if number
            else isinstance(item, str)
        )
        if not kind_ok or (number and not 0 <= item < 2**63):
            raise _bad_cursor(value, param)
    return data


def _bad_cursor(value: str, param: str) -> InvalidCursorError:
    return InvalidCursorError(
        f"invalid cursor {value[:40]!r}",
        [{"path": param, "message": "not a cursor this API returned"}],
    )
