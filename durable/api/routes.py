"""The routes of SPEC §5: each one parses, delegates to the Client, and serialises its model
(durable.models, durable.api.shapes)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from durable.api import query
from durable.api.body import parse_body
from durable.api.errors import RunnerTickDisabledError
from durable.api.schemas import (
    Body,
    CreateBatchBody,
    CreateInstanceBody,
    EmptyBody,
    RetryFailedStepBody,
    RunnerTickBody,
    SendEventBody,
)
from durable.api.shapes import BatchCreated, Health, Ok, TickResult, WorkflowList, to_json
from durable.client import Client
from durable.errors import StoreUnavailableError
from durable.history import LOG_LEVELS
from durable.models import Model
from durable.settings import Settings

logger = logging.getLogger("durable.api")

HEALTH_TIMEOUT_S = 2.0
BodyModel = TypeVar("BodyModel", bound=Body)
Endpoint = Callable[[Request], Awaitable[Response]]
IDEMPOTENCY_HEADER = "Idempotency-Key"


class Control(Protocol):
    def __call__(
        self, client: Client, workflow: str, instance_id: str, /, *, idempotency_key: str | None
    ) -> Awaitable[None]: ...


CONTROLS: dict[str, Control] = {
    "pause": Client.pause,
    "resume": Client.resume,
    "terminate": Client.terminate,
    "restart": Client.restart,
}


def client_of(request: Request) -> Client:
    """The app's Client, made by the lifespan; made on first use when the app is mounted inside
    another Starlette app, whose server never runs a sub-application's lifespan."""
    state = request.app.state
    client: Client | None = getattr(state, "client", None)
    if client is None:
        client = state.client = Client(state.registry, state.settings)
    return client


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def body_of(request: Request, model: type[BodyModel], *, optional: bool) -> BodyModel:
    limit = settings_of(request).max_body_bytes
    return await parse_body(request, model, limit=limit, optional=optional)


def reply(model: Model, status_code: int = 200) -> JSONResponse:
    return JSONResponse(to_json(model), status_code)


def target(request: Request) -> tuple[str, str]:
    return request.path_params["workflow"], request.path_params["id"]


def idempotency_key(request: Request) -> str | None:
    """The Idempotency-Key header, unchecked (the Client validates it)."""
    return request.headers.get(IDEMPOTENCY_HEADER)


async def list_workflows(request: Request) -> Response:
    return reply(WorkflowList(workflows=client_of(request).list_workflows()))


async def list_instances(request: Request) -> Response:
    q = request.query_params
    page = await client_of(request).list_instances(
        request.path_params["workflow"],
        status=query.status(q),
        page_size=query.page_size(q),
        cursor=query.text(q, "cursor"),
        version=query.version(q),
    )
    return reply(page)


async def create_instance(request: Request) -> Response:
    body = await body_of(request, CreateInstanceBody, optional=True)
    instance, created = await client_of(request).create(
        request.path_params["workflow"],
        instance_id=body.id,
        params=body.params,
        idempotency_key=idempotency_key(request),
    )
    return reply(instance, 201 if created else 200)


async def create_batch(request: Request) -> Response:
    body = await body_of(request, CreateBatchBody, optional=False)
    items = [_batch_item(item.id, item.params) for item in body.instances]
    created = await client_of(request).create_batch(request.path_params["workflow"], items)
    return reply(BatchCreated(instances=created))


def _batch_item(instance_id: str, params: Any) -> dict[str, Any]:
    return {"id": instance_id} if params is None else {"id": instance_id, "params": params}


async def get_instance(request: Request) -> Response:
    return reply(await client_of(request).get(*target(request)))


async def instance_history(request: Request) -> Response:
    q = request.query_params
    page = await client_of(request).history(
        *target(request),
        run_number=query.integer(q, "runNumber", minimum=0),
        page_size=query.page_size(q),
        order=query.order(q),
        include_logs=query.boolean(q, "includeLogs", default=False),
        steps_cursor=query.text(q, "stepsCursor"),
        events_cursor=query.text(q, "eventsCursor"),
        logs_cursor=query.text(q, "logsCursor"),
        log_level=query.choice(q, "logLevel", LOG_LEVELS),
        log_category=query.text(q, "logCategory"),
    )
    return reply(page)


async def send_event(request: Request) -> Response:
    body = await body_of(request, SendEventBody, optional=False)
    result = await client_of(request).send_event(
        *target(request),
        type=body.type,
        payload=body.payload,
        event_id=body.id,
        idempotency_key=idempotency_key(request),
    )
    return reply(result)


def control(action: str) -> Endpoint:
    """pause, resume, terminate and restart share one shape: optional empty body, `{ok: true}`."""
    call = CONTROLS[action]

    async def endpoint(request: Request) -> Response:
        await body_of(request, EmptyBody, optional=True)
        await call(client_of(request), *target(request), idempotency_key=idempotency_key(request))
        return reply(Ok(ok=True))

    endpoint.__name__ = f"{action}_instance"
    return endpoint


async def retry_failed_step(request: Request) -> Response:
    retry = await body_of(request, RetryFailedStepBody, optional=True)
    result = await client_of(request).retry_failed_step(
        *target(request), delay_ms=retry.delayMs, idempotency_key=idempotency_key(request)
    )
    return reply(result)


async def runner_tick(request: Request) -> Response:
    if not settings_of(request).enable_runner_tick:
        raise RunnerTickDisabledError()
    body = await body_of(request, RunnerTickBody, optional=True)
    processed = await client_of(request).tick(
        max_instances=body.maxInstances, max_steps=body.maxSteps
    )
    return reply(TickResult(processed=processed))


async def health(request: Request) -> Response:
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT_S):
            await client_of(request).ping()
    except Exception as exc:  # any failure to reach Redis means "down", never a 500
        request.app.state.redis_outage.report(exc)  # the URL and the cause, every 30 s at most
        down = StoreUnavailableError()
        return reply(Health(ok=False, redis="down", code=down.code, message=down.message), 503)
    return reply(Health(ok=True, redis="up"))


async def openapi(request: Request) -> Response:
    return JSONResponse(request.app.state.openapi)


def by_method(path: str, **endpoints: Endpoint) -> Route:
    """One route serving several methods, so a 405 lists all of them in `Allow`."""

    async def endpoint(request: Request) -> Response:
        return await endpoints[request.method if request.method != "HEAD" else "GET"](request)

    endpoint.__name__ = "_or_".join(fn.__name__ for fn in endpoints.values())
    return Route(path, endpoint, methods=list(endpoints))


def build_routes(mount: str) -> list[BaseRoute]:
    """Every route of SPEC §5 under `mount` (normalised, no trailing slash), plus GET /health."""
    instance = f"{mount}/{{workflow}}/instances/{{id}}"
    routes: list[BaseRoute] = [
        Route(mount or "/", list_workflows, methods=["GET"]),
        Route(f"{mount}/health", health, methods=["GET"]),
        Route(f"{mount}/openapi.json", openapi, methods=["GET"]),
        Route(f"{mount}/_runner/tick", runner_tick, methods=["POST"]),
        by_method(f"{mount}/{{workflow}}/instances", GET=list_instances, POST=create_instance),
        Route(f"{mount}/{{workflow}}/instances/batch", create_batch, methods=["POST"]),
        Route(instance, get_instance, methods=["GET"]),
        Route(f"{instance}/history", instance_history, methods=["GET"]),
        Route(f"{instance}/events", send_event, methods=["POST"]),
        *(Route(f"{instance}/{action}", control(action), methods=["POST"]) for action in CONTROLS),
        Route(f"{instance}/retry-failed-step", retry_failed_step, methods=["POST"]),
    ]
    if mount:
        routes.append(Route(f"{mount}/", list_workflows, methods=["GET"], include_in_schema=False))
        routes.append(Route("/health", health, methods=["GET"], include_in_schema=False))
    return routes
