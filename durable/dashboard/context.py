"""What a dashboard request reads from the API app it is served by: settings and the Client."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from durable.client import Client
from durable.dashboard.data import DashboardData
from durable.settings import Settings

API_APP = "durable.api"  # scope key: the API app, set before the dashboard takes the request
AUTH = "durable.dashboard.auth"  # scope key: how the request was let in (session.Credential)


def api_app(request: Request) -> Any:
    return request.scope[API_APP]


def settings_of(request: Request) -> Settings:
    settings: Settings = api_app(request).state.settings
    return settings


def data_of(request: Request) -> DashboardData:
    """The API app's Client (made on first use when no lifespan ran, as the API does)."""
    state = api_app(request).state
    client: Client | None = getattr(state, "client", None)
    if client is None:
        client = state.client = Client(state.registry, state.settings)
    return DashboardData(client)


def wants_json(request: Request) -> bool:
    """The dashboard's script asks for JSON answers; a plain form post gets a page."""
    return "application/json" in request.headers.get("accept", "")
