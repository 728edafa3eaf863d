"""The app factory `create_app(...)`; `app()` serves `uvicorn --factory durable.api.app:app`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ExceptionHandler

from durable.api.auth import AuthMiddleware
from durable.api.control import control_routes
from durable.api.errors import exception_handlers, on_client_error
from durable.api.observe import HttpMetrics, metrics_route, request_observer
from durable.api.openapi import build_document
from durable.api.routes import build_routes
from durable.api.types import Authorize, RegistryLike
from durable.client import Client
from durable.connectivity import OutageReporter
from durable.dashboard import dashboard_middleware
from durable.errors import ClientError, ConfigurationError, PartitionsError, StoreUnavailableError
from durable.settings import Settings
from durable.workflow import Registry, as_registry, load_registry

WORKFLOWS_ENV = "DURABLE_WORKFLOWS"
STARTUP_PROBE_TIMEOUT_S = 5.0
logger = logging.getLogger("durable.api")


def create_app(
    settings: Settings | None = None,
    *,
    workflows: RegistryLike | None = None,
    authorize: Authorize | None = None,
) -> Starlette:
    """Build the API; `workflows` defaults to the registry named by $DURABLE_WORKFLOWS."""
    settings = settings or Settings.from_env()
    registry = registry_from_env() if workflows is None else as_registry(workflows)
    mount = normalise_mount(settings.mount_path)
    # GET /metrics at the root, same token
    routes = [*build_routes(mount), *control_routes(mount), metrics_route()]
    http_metrics = HttpMetrics()
    open_paths = frozenset({f"{mount}/health", "/health"})
    auth = Middleware(
        AuthMiddleware, token=settings.api_token, authorize=authorize, open_paths=open_paths
    )
    app = Starlette(
        routes=routes,
        middleware=[
            request_observer(http_metrics),  # outermost: counts (and traces) every request
            dashboard_middleware(authorize),  # /dashboard: own login, same token
            auth,
        ],
        exception_handlers=reporting_outages(exception_handlers()),
        lifespan=lifespan,
    )
    # An API answers a wrong path with 404 ROUTE_NOT_FOUND, not a redirect a client may not follow.
    app.router.redirect_slashes = False
    app.state.settings = settings
    app.state.registry = registry
    app.state.http_metrics = http_metrics
    app.state.openapi = build_document(mount, secured=bool(settings.api_token))
    app.state.redis_outage = OutageReporter(settings.redis_url, logger)
    return app


def reporting_outages(handlers: dict[Any, ExceptionHandler]) -> dict[Any, ExceptionHandler]:
    """A 503 for an unreachable Redis also logs why (the URL and the cause), at most every 30 s."""

    async def reporting(request: Request, exc: Exception) -> Response:
        if isinstance(exc, StoreUnavailableError):
            request.app.state.redis_outage.report(exc)
        return await on_client_error(request, exc)

    return {**handlers, ClientError: reporting}


def app() -> Starlette:
    """Zero-argument factory driven by the environment: `uvicorn --factory durable.api.app:app`."""
    return create_app()


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    """One Client (and so one Redis pool) per app, opened and closed with the server."""
    client = Client(app.state.registry, app.state.settings)
    app.state.client = client
    probe = asyncio.ensure_future(startup_probe(client, app.state.redis_outage))
    try:
        yield
    finally:
        probe.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await probe
        app.state.client = None
        await client.aclose()


async def startup_probe(client: Client, outage: OutageReporter) -> None:
    """Say at once when Redis cannot be reached, or holds other partitions than this process
    is configured with; the API serves (answering 503) regardless. Once Redis answers, make
    the schedules declared in the registry exist (as workers do)."""
    try:
        async with asyncio.timeout(STARTUP_PROBE_TIMEOUT_S):
            await client.ping()
            await client.open()
    except PartitionsError as exc:
        logger.error("%s; every request is answered 503 until the API restarts", exc)
        return
    except Exception as exc:  # any failure: report it, never stop the server
        outage.report(exc)
        return
    if client.registry.schedules:
        try:
            await client.ensure_schedules()
        except ClientError as exc:  # Redis went away meanwhile: the workers make them too
            logger.warning("could not make the declared schedules: %s", exc.message)


def registry_from_env() -> Registry:
    path = os.environ.get(WORKFLOWS_ENV)
    if not path:
        raise ConfigurationError(
            f"no workflows given: pass workflows= to create_app or set {WORKFLOWS_ENV}=module:attr"
        )
    return load_registry(path)


def normalise_mount(path: str) -> str:
    """'/api/workflows/' -> '/api/workflows'; '' or '/' -> '' (routes at the root)."""
    stripped = path.strip().strip("/")
    return f"/{stripped}" if stripped else ""
