"""Bearer-token and custom-policy checks, in front of every route but the health checks."""

from __future__ import annotations

import hmac
import inspect

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from durable.api.errors import UnauthorizedError, error_response
from durable.api.types import Authorize


def bearer_matches(header: str | None, token: str) -> bool:
    """Constant-time comparison of `Authorization: Bearer <token>` against the configured token."""
    scheme, _, supplied = (header or "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(supplied.strip().encode(), token.encode())


async def policy_allows(authorize: Authorize | None, request: Request) -> bool:
    """The custom `authorize` policy's verdict (sync or async); no policy allows."""
    if authorize is None:
        return True
    verdict = authorize(request)
    if inspect.isawaitable(verdict):
        verdict = await verdict
    return verdict is True


def route_path(scope: Scope) -> str:
    """The path the router matches: without the root path of a server prefix or outer Mount."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root) : len(root) + 1] in ("", "/"):
        return path[len(root) :]
    return path


class AuthMiddleware:
    """Answers 401 before routing unless the token and the `authorize` hook both allow the call."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        token: str | None,
        authorize: Authorize | None,
        open_paths: frozenset[str],
    ) -> None:
        self.app = app
        self.token = token
        self.authorize = authorize
        self.open_paths = open_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or route_path(scope) in self.open_paths:
            await self.app(scope, receive, send)
            return
        if not await self.allowed(Request(scope, receive)):
            await error_response(UnauthorizedError())(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def allowed(self, request: Request) -> bool:
        if self.token and not bearer_matches(request.headers.get("authorization"), self.token):
            return False
        return await policy_allows(self.authorize, request)
