"""Who may see the dashboard: the API's bearer token, or a session cookie earned by it.

With `DURABLE_API_TOKEN` set, a request passes with `Authorization: Bearer <token>` or with the
session cookie the login form sets. The cookie never holds the token: it is an expiry time and
an HMAC of that time keyed by the token, so changing the token ends every session. It is
HttpOnly and SameSite=Strict. Without a token the dashboard is open, like the API.

State-changing requests (the login form and every action) must also come from the dashboard's
own pages: their `Origin` (or, lacking it, `Referer`) must name this server's host. Requests
carrying the bearer header skip that check, since a browser never adds that header by itself.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Literal
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from durable.api.auth import bearer_matches

COOKIE = "durable_dashboard"
SESSION_TTL_S = 12 * 60 * 60
Credential = Literal["open", "bearer", "cookie"]


def _signature(token: str, expires_s: int) -> str:
    message = f"durable-dashboard-session:{expires_s}".encode()
    return hmac.new(token.encode(), message, hashlib.sha256).hexdigest()


def session_value(token: str, now_s: float | None = None) -> str:
    expires_s = int(now_s if now_s is not None else time.time()) + SESSION_TTL_S
    return f"{expires_s}.{_signature(token, expires_s)}"


def session_valid(token: str, value: str | None, now_s: float | None = None) -> bool:
    expires, _, signature = (value or "").partition(".")
    if not expires.isdigit() or int(expires) <= (now_s if now_s is not None else time.time()):
        return False
    return hmac.compare_digest(signature.encode(), _signature(token, int(expires)).encode())


def token_matches(supplied: str, token: str) -> bool:
    """Constant-time comparison of what the login form received with the configured token."""
    return hmac.compare_digest(supplied.strip().encode(), token.encode())


def credential(request: Request, token: str | None) -> Credential | None:
    """How the request is allowed in, or None when it is not."""
    if not token:
        return "open"
    if bearer_matches(request.headers.get("authorization"), token):
        return "bearer"
    if session_valid(token, request.cookies.get(COOKIE)):
        return "cookie"
    return None


def same_origin(request: Request) -> bool:
    """The request was sent by a page of this server (a browser sets Origin on every POST)."""
    source = request.headers.get("origin") or request.headers.get("referer")
    if not source or source == "null":
        return False
    host = urlsplit(source).netloc.lower()
    hosts = {request.headers.get("host", ""), request.headers.get("x-forwarded-host", "")}
    return bool(host) and host in {h.strip().lower() for h in hosts if h}


def secure(request: Request) -> bool:
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto", "") == "https"


def start_session(response: Response, request: Request, token: str, path: str) -> None:
    response.set_cookie(
        COOKIE,
        session_value(token),
        max_age=SESSION_TTL_S,
        path=path,
        secure=secure(request),
        httponly=True,
        samesite="strict",
    )


def end_session(response: Response, request: Request, path: str) -> None:
    response.delete_cookie(
        COOKIE, path=path, secure=secure(request), httponly=True, samesite="strict"
    )
