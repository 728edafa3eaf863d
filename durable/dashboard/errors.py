"""Error pages: a calm page (or JSON for the dashboard's script) for every failure, never a
traceback."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from durable.api.errors import STATUS_BY_CODE
from durable.dashboard.context import api_app, wants_json
from durable.dashboard.render import render
from durable.errors import ClientError, StoreUnavailableError

logger = logging.getLogger("durable.dashboard")

TITLES = {
    400: "Bad request",
    401: "Not signed in",
    403: "Refused",
    404: "Not found",
    405: "Method not allowed",
    409: "Not possible now",
    413: "Too large",
    503: "Store unavailable",
}


def refuse(request: Request, status_code: int, message: str, code: str = "") -> Response:
    if wants_json(request):
        body = {"ok": False, "message": message, "code": code}
        return JSONResponse(body, status_code=status_code)
    title = TITLES.get(status_code, "Something went wrong")
    return render(request, "error.html", status_code, title=title, message=message)


async def on_client_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, ClientError):  # pragma: no cover - registered for ClientError only
        return await on_unexpected(request, exc)
    if isinstance(exc, StoreUnavailableError):
        outage = getattr(api_app(request).state, "redis_outage", None)
        if outage is not None:
            outage.report(exc)
    # no instance can have an id that is not valid: to a reader, that is a missing instance
    status_code = 404 if exc.code == "INVALID_INSTANCE_ID" else STATUS_BY_CODE.get(exc.code, 500)
    if status_code == 500:
        logger.error(
            "dashboard request failed: %s %s", request.method, request.url.path, exc_info=exc
        )
        return await on_unexpected(request, exc)
    return refuse(request, status_code, exc.message, exc.code)


async def on_http_error(request: Request, exc: Exception) -> Response:
    status_code = exc.status_code if isinstance(exc, HTTPException) else 500
    messages = {
        404: "There is no dashboard page at this address.",
        405: "This page does not take that kind of request.",
    }
    return refuse(request, status_code, messages.get(status_code, "The request failed."))


async def on_unexpected(request: Request, exc: Exception) -> Response:
    """The page for a bug; Starlette raises the exception on afterwards, into the server's log."""
    return refuse(request, 500, "The server could not show this page; its log says why.")
