"""The dashboard inside the API app: requests under `/dashboard` are served here, before the
API's bearer-only check, by a small Starlette app with its own guard and error pages."""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from durable.api.auth import policy_allows, route_path
from durable.api.types import Authorize
from durable.dashboard import actions, pages, session
from durable.dashboard.context import API_APP, AUTH, settings_of
from durable.dashboard.errors import on_client_error, on_http_error, on_unexpected, refuse
from durable.dashboard.render import urls_of
from durable.errors import ClientError

BASE = "/dashboard"
LOGIN = f"{BASE}/-/login"
STATIC = f"{BASE}/-/static"
HERE = Path(__file__).parent
SECURITY_HEADERS = {
    # Everything is served from here: no inline script, no other origin, no framing.
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
}


def dashboard_middleware(authorize: Authorize | None = None) -> Middleware:
    """For `create_app`: serve the dashboard beside the API, under the same `authorize` policy."""
    return Middleware(DashboardMiddleware, authorize=authorize)


def is_dashboard(path: str) -> bool:
    return path == BASE or path.startswith(BASE + "/")


class DashboardMiddleware:
    def __init__(self, app: ASGIApp, *, authorize: Authorize | None = None) -> None:
        self.app = app
        self.dashboard = build_dashboard(authorize)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and is_dashboard(route_path(scope)):
            await self.dashboard({**scope, API_APP: scope["app"]}, receive, send)
            return
        await self.app(scope, receive, send)


def build_dashboard(authorize: Authorize | None) -> Starlette:
    app = Starlette(
        routes=routes(),
        middleware=[Middleware(Guard, authorize=authorize)],
        exception_handlers={
            ClientError: on_client_error,
            HTTPException: on_http_error,
            Exception: on_unexpected,
        },
    )
    app.router.redirect_slashes = False
    return app


def routes() -> list[BaseRoute]:
    instance = f"{BASE}/{{workflow}}/{{id}}"
    return [
        Route(BASE, pages.home, methods=["GET"]),
        Route(f"{BASE}/", pages.home, methods=["GET"]),
        Route(LOGIN, actions.login_page, methods=["GET"]),
        Route(LOGIN, actions.login, methods=["POST"]),
        Route(f"{BASE}/-/logout", actions.logout, methods=["POST"]),
        Mount(STATIC, app=StaticFiles(directory=HERE / "static")),
        Route(f"{BASE}/{{workflow}}", pages.workflow, methods=["GET"]),
        Route(instance, pages.instance, methods=["GET"]),
        Route(f"{instance}/live", pages.live, methods=["GET"]),
        Route(f"{instance}/events", actions.send_event, methods=["POST"]),
        Route(f"{instance}/{{action}}", actions.control, methods=["POST"]),
    ]


class Guard:
    """Lets a request in by token, session cookie or an open server; checks the `authorize`
    policy and, for a POST, that it came from the dashboard's own pages. Adds security
    headers to every answer."""

    def __init__(self, app: ASGIApp, *, authorize: Authorize | None) -> None:
        self.app = app
        self.authorize = authorize

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = route_path(scope)
        send = with_headers(send, cache=path.startswith(STATIC + "/"))
        if path.startswith(STATIC + "/") or path == LOGIN:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        scope[AUTH] = session.credential(request, settings_of(request).api_token)
        refusal = await self.refusal(request, path)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def refusal(self, request: Request, path: str) -> Response | None:
        how = request.scope[AUTH]
        if how is None:
            return sign_in_first(request, path)
        if not await self.allowed(request):
            return refuse(request, 401, "This server's access policy did not let you in.")
        if request.method == "POST" and how != "bearer" and not session.same_origin(request):
            message = "Refused: the request did not come from this dashboard's pages."
            return refuse(request, 403, message, "FORBIDDEN")
        return None

    async def allowed(self, request: Request) -> bool:
        return await policy_allows(self.authorize, request)


def sign_in_first(request: Request, path: str) -> Response:
    """A page opens the login form (and returns there after); anything else is a 401."""
    live = path.endswith("/live")
    if (
        request.method in ("GET", "HEAD")
        and not live
        and "json" not in request.headers.get("accept", "")
    ):
        next_path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(urls_of(request).login(next_path), status_code=303)
    return refuse(request, 401, "Sign in to the dashboard first.", "UNAUTHORIZED")


def with_headers(send: Send, *, cache: bool) -> Send:
    """Pages show live data and may be private: never cached; static files may be."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = MutableHeaders(scope=message)
            for name, value in SECURITY_HEADERS.items():
                headers.setdefault(name, value)
            if not cache:
                headers.setdefault("cache-control", "no-store")
        await send(message)

    return sending
