"""Form handlers: sign in and out, control an instance, send it an event.

Each answers the dashboard's script with JSON (`{ok, message}`) and a plain form post with a
redirect back to the page (or the page again, with the problem shown and the form kept).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlencode

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from durable.api.errors import STATUS_BY_CODE
from durable.dashboard import session
from durable.dashboard.context import data_of, settings_of, wants_json
from durable.dashboard.data import ACTIONS
from durable.dashboard.errors import refuse
from durable.dashboard.pages import NOTICES, instance_page, instance_view
from durable.dashboard.render import render, urls_of
from durable.errors import ClientError, PayloadTooLargeError, ValidationError

FORM_TYPE = "application/x-www-form-urlencoded"
FORM_FIELDS_MAX = 10
LOGIN_BODY_MAX = 16 * 1024


async def read_form(request: Request, limit: int) -> dict[str, str]:
    """A url-encoded form body of at most `limit` bytes; the first value of each field."""
    if not request.headers.get("content-type", "").startswith(FORM_TYPE):
        raise ValidationError(f"send the form as {FORM_TYPE}")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLargeError("the form", len(body), limit)
    try:
        fields = parse_qs(
            body.decode("utf-8", errors="replace"),
            keep_blank_values=True,
            max_num_fields=FORM_FIELDS_MAX,
        )
    except ValueError as exc:
        raise ValidationError("the form has too many fields") from exc
    return {name: values[0] for name, values in fields.items()}


def target(request: Request) -> tuple[str, str]:
    return request.path_params["workflow"], request.path_params["id"]


async def control(request: Request) -> Response:
    action = request.path_params["action"]
    if action not in ACTIONS:
        raise HTTPException(404)
    form = await read_form(request, LOGIN_BODY_MAX)
    workflow, instance_id = target(request)
    try:
        await data_of(request).control(action, workflow, instance_id, form.get("key") or None)
    except ClientError as exc:
        return await failed(request, exc, form)
    return done(request, action)


async def send_event(request: Request) -> Response:
    form = await read_form(request, settings_of(request).max_body_bytes)
    workflow, instance_id = target(request)
    try:
        payload = parse_payload(form.get("payload", ""))
        await data_of(request).send_event(
            workflow, instance_id, form.get("type", "").strip(), payload, form.get("key") or None
        )
    except ClientError as exc:
        return await failed(request, exc, form)
    return done(request, "events")


def parse_payload(text: str) -> Any:
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(
            f"the payload is not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})",
            [{"path": "payload", "message": "not JSON"}],
        ) from exc


def done(request: Request, action: str) -> Response:
    if wants_json(request):
        return JSONResponse({"ok": True, "message": NOTICES[action]})
    page = urls_of(request).instance(*target(request))
    return RedirectResponse(f"{page}?{urlencode({'done': action})}", status_code=303)


async def failed(request: Request, exc: ClientError, form: dict[str, str]) -> Response:
    """Show why an action was refused, keeping what was typed; a missing instance is a 404."""
    if wants_json(request) or exc.code in ("WORKFLOW_NOT_FOUND", "INSTANCE_NOT_FOUND"):
        raise exc
    view = await instance_view(request, current_run=True)
    status_code = STATUS_BY_CODE.get(exc.code, 400)
    return instance_page(request, view, problem=exc.message, form=form, status_code=status_code)


# -- signing in and out -----------------------------------------------------------------------


def safe_next(request: Request, value: str | None) -> str | None:
    """Only a dashboard path is a place to return to after signing in (no open redirect)."""
    home = urls_of(request).home
    if not value or any(c in value for c in "\\\r\n\t") or "//" in value:
        return None
    return value if value == home or value.startswith(home + "/") else None


async def login_page(request: Request) -> Response:
    if not settings_of(request).api_token:
        return RedirectResponse(urls_of(request).home, status_code=303)
    next_path = safe_next(request, request.query_params.get("next"))
    return render(request, "login.html", next_path=next_path, problem=None)


async def login(request: Request) -> Response:
    token = settings_of(request).api_token
    urls = urls_of(request)
    if not token:
        return RedirectResponse(urls.home, status_code=303)
    if not session.same_origin(request):
        return refuse(request, 403, "Sign in from the dashboard's own login page.", "FORBIDDEN")
    form = await read_form(request, LOGIN_BODY_MAX)
    next_path = safe_next(request, form.get("next"))
    if not session.token_matches(form.get("token", ""), token):
        problem = "That token is not the one this server was started with."
        return render(request, "login.html", 401, next_path=next_path, problem=problem)
    response = RedirectResponse(next_path or urls.home, status_code=303)
    session.start_session(response, request, token, urls.home)
    return response


async def logout(request: Request) -> Response:
    urls = urls_of(request)
    response = RedirectResponse(urls.login(), status_code=303)
    session.end_session(response, request, urls.home)
    return response
