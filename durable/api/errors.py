"""Every error the HTTP API answers with, mapped to a status in this one module.

Durable's `ClientError` tree already carries a stable `code`; the few errors only HTTP can
produce (auth, media type, disabled tick, body size) join that tree here, so one table turns any
of them into `{"message", "code"[, "issues"]}` with the right status. Starlette's own 404/405,
raw Redis connection errors and anything unexpected are mapped here too; a 500 never carries
the exception text.
"""

from __future__ import annotations

import logging
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.types import ExceptionHandler

from durable.api.shapes import Error, ErrorIssue, to_json
from durable.errors import ClientError, PartitionsError, StoreUnavailableError, ValidationError

logger = logging.getLogger("durable.api")

STATUS_BY_CODE = {
    "VALIDATION_ERROR": 400,
    "INVALID_INSTANCE_ID": 400,
    "WORKFLOW_PARAMS_INVALID": 400,
    "INVALID_CURSOR": 400,
    "UNAUTHORIZED": 401,
    "RUNNER_TICK_DISABLED": 403,
    "WORKFLOW_NOT_FOUND": 404,
    "INSTANCE_NOT_FOUND": 404,
    "SCHEDULE_NOT_FOUND": 404,
    "ROUTE_NOT_FOUND": 404,
    "METHOD_NOT_ALLOWED": 405,
    "INSTANCE_TERMINAL": 409,
    "INSTANCE_NOT_ERRORED": 409,
    "FAILED_STEP_NOT_RETRYABLE": 409,
    "PAYLOAD_TOO_LARGE": 413,
    "UNSUPPORTED_MEDIA_TYPE": 415,
    "INTERNAL_SERVER_ERROR": 500,
    "SERVICE_UNAVAILABLE": 503,
}
CODE_BY_HTTP_STATUS = {
    400: "VALIDATION_ERROR",
    401: "UNAUTHORIZED",
    404: "ROUTE_NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
}
INTERNAL_MESSAGE = "internal server error"


class UnauthorizedError(ClientError):
    code = "UNAUTHORIZED"

    def __init__(self) -> None:
        super().__init__("missing or invalid credentials; send 'Authorization: Bearer <token>'")


class UnsupportedMediaTypeError(ClientError):
    code = "UNSUPPORTED_MEDIA_TYPE"

    def __init__(self, content_type: str) -> None:
        super().__init__(f"request bodies must be application/json, got {content_type!r}")
        self.content_type = content_type


class RunnerTickDisabledError(ClientError):
    code = "RUNNER_TICK_DISABLED"

    def __init__(self) -> None:
        super().__init__("the runner tick route is disabled; set DURABLE_ENABLE_RUNNER_TICK=1")


class BodyTooLargeError(ClientError):
    code = "PAYLOAD_TOO_LARGE"

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body exceeds the limit of {limit} bytes")
        self.limit = limit


def error_body(
    code: str, message: str, issues: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """`{message, code}`, plus `issues` when given (shapes.Error)."""
    found = None if issues is None else [ErrorIssue.model_validate(i) for i in issues]
    return to_json(Error(message=message, code=code, issues=found))


def error_response(exc: ClientError) -> JSONResponse:
    """The one place a durable error becomes an HTTP response."""
    status = STATUS_BY_CODE.get(exc.code, 500)
    if status == 500:
        logger.error("client error with unmapped code %r: %s", exc.code, exc.message)
        return JSONResponse(error_body("INTERNAL_SERVER_ERROR", INTERNAL_MESSAGE), status_code=500)
    issues = _issues(exc) if isinstance(exc, ValidationError) else None
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(error_body(exc.code, exc.message, issues), status, headers=headers)


def _issues(exc: ValidationError) -> list[dict[str, Any]]:
    """Validation errors always carry issues; one raised without any gets a root issue."""
    return exc.issues or [{"path": "", "message": exc.message}]


async def on_client_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, ClientError):  # pragma: no cover - registered for ClientError only
        raise exc
    return error_response(exc)


async def on_http_exception(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, HTTPException):  # pragma: no cover - registered for HTTPException only
        raise exc
    code = CODE_BY_HTTP_STATUS.get(exc.status_code, "INTERNAL_SERVER_ERROR")
    message = _http_message(request, exc.status_code)
    headers = dict(exc.headers or {})
    issues = [{"path": "", "message": message}] if code == "VALIDATION_ERROR" else None
    body = error_body(code, message, issues)
    return JSONResponse(body, exc.status_code, headers=headers or None)


def _http_message(request: Request, status: int) -> str:
    if status == 404:
        return f"no route matches {request.method} {request.url.path}"
    if status == 405:
        return f"method {request.method} is not allowed on {request.url.path}"
    return "the request could not be handled"


async def on_redis_unavailable(request: Request, exc: Exception) -> Response:
    logger.warning("redis unavailable during %s %s: %r", request.method, request.url.path, exc)
    return error_response(StoreUnavailableError())


async def on_partitions_mismatch(request: Request, exc: Exception) -> Response:
    """This API's partitions are not those Redis holds (an app built with create_app under
    another server than `durable api`, which refuses to start instead): 503, saying what to do."""
    if not isinstance(exc, PartitionsError):  # pragma: no cover - registered for it only
        raise exc
    logger.error("cannot serve %s %s: %s", request.method, request.url.path, exc)
    return error_response(StoreUnavailableError(f"this API is misconfigured: {exc}"))


async def on_client_disconnect(request: Request, exc: Exception) -> Response:
    return error_response(ValidationError("the client disconnected before sending the whole body"))


async def on_unexpected(request: Request, exc: Exception) -> Response:
    logger.error("unhandled error in %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse(error_body("INTERNAL_SERVER_ERROR", INTERNAL_MESSAGE), status_code=500)


def exception_handlers() -> dict[Any, ExceptionHandler]:
    return {
        ClientError: on_client_error,
        HTTPException: on_http_exception,
        RedisConnectionError: on_redis_unavailable,
        RedisTimeoutError: on_redis_unavailable,
        ClientDisconnect: on_client_disconnect,
        PartitionsError: on_partitions_mismatch,
        Exception: on_unexpected,
    }
