"""Reading JSON request bodies: media type, size limit while streaming, strict decoding."""

from __future__ import annotations

import json
import re
from typing import Any, NoReturn, TypeVar

import pydantic
from starlette.requests import Request

from durable.api.errors import BodyTooLargeError, UnsupportedMediaTypeError
from durable.errors import ValidationError

MAX_ISSUES = 100
_DIGITS = re.compile(r"[0-9]+")
Model = TypeVar("Model", bound=pydantic.BaseModel)


async def parse_body(request: Request, model: type[Model], *, limit: int, optional: bool) -> Model:
    """Read, decode and validate the body; an empty optional body counts as `{}`."""
    raw = await read_limited(request, limit)
    if not raw.strip():
        if not optional:
            raise root_error("a JSON request body is required", "expected a JSON object")
        return validate(model, {})
    require_json(request.headers.get("content-type"))
    return validate(model, decode_object(raw))


async def read_limited(request: Request, limit: int) -> bytes:
    """Refuse by Content-Length first, then count streamed chunks, so no oversize body is held."""
    declared = _content_length(request)
    if declared is not None and declared > limit:
        raise BodyTooLargeError(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLargeError(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _content_length(request: Request) -> int | None:
    value = request.headers.get("content-length")
    if value is None:
        return None
    digits = value.strip()
    if not _DIGITS.fullmatch(digits):
        raise ValidationError(
            f"invalid Content-Length header {value[:40]!r}",
            [{"path": "Content-Length", "message": "must be a whole number of bytes"}],
        )
    # Past 18 digits the exact number no longer matters (and int() of thousands of digits raises).
    return int(digits) if len(digits) <= 18 else 10**18


def require_json(content_type: str | None) -> None:
    """A missing media type is read as JSON; anything but application/json or +json is 415."""
    if content_type is None or not content_type.strip():
        return
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type != "application/json" and not (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        raise UnsupportedMediaTypeError(content_type)


def decode_object(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object; anything else is a VALIDATION_ERROR with one root issue."""
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError as exc:
        reason = f"invalid UTF-8 at byte {exc.start}"
        raise root_error(f"the request body is not valid UTF-8: {reason}", reason) from exc
    except (ValueError, RecursionError) as exc:
        reason = _reason(exc)
        raise root_error(f"the request body is not valid JSON: {reason}", reason) from exc
    if not isinstance(data, dict):
        kind = _json_kind(data)
        raise root_error(
            f"the request body must be a JSON object, got {kind}",
            f"expected a JSON object, got {kind}",
        )
    return data


def root_error(message: str, issue: str) -> ValidationError:
    """An error about the body as a whole: its one issue has the root path ""."""
    return ValidationError(message, [{"path": "", "message": issue}])


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at line {exc.lineno} column {exc.colno}"
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return str(exc)


def _json_kind(value: Any) -> str:
    kinds = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return kinds.get(type(value), "a number")


def validate(model: type[Model], data: dict[str, Any]) -> Model:
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        raise validation_error("invalid request body", exc) from exc


def validation_error(summary: str, exc: pydantic.ValidationError) -> ValidationError:
    errors = exc.errors(include_url=False)[:MAX_ISSUES]
    issues = [{"path": _path(err["loc"]), "message": err["msg"]} for err in errors]
    first = issues[0]
    where = f" at {first['path']}" if first["path"] else ""
    return ValidationError(f"{summary}: {first['message']}{where}", issues)


def _path(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc)
