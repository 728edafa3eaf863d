"""The routes of schedules and bulk control: each parses, delegates to the Client, and
serialises its model (durable.models, durable.api.shapes)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from durable.api.routes import Endpoint, body_of, by_method, client_of, idempotency_key, reply
from durable.api.schemas import BulkBody, BulkRetryBody, CreateScheduleBody, EmptyBody
from durable.api.shapes import Ok

BULK_ACTIONS = ("terminate", "restart", "retry-step")


def _schedule(request: Request) -> tuple[str, str]:
    return request.path_params["workflow"], request.path_params["id"]


async def list_schedules(request: Request) -> Response:
    return reply(await client_of(request).list_schedules(request.path_params["workflow"]))


async def create_schedule(request: Request) -> Response:
    body = await body_of(request, CreateScheduleBody, optional=False)
    entry, created = await client_of(request).create_schedule(
        request.path_params["workflow"],
        body.id,
        cron=body.cron,
        every=body.every,
        params=body.params,
        timezone=body.timezone,
        overlap=body.overlap,
        catchup=body.catchup,
        paused=body.paused,
    )
    return reply(entry, 201 if created else 200)


async def get_schedule(request: Request) -> Response:
    return reply(await client_of(request).get_schedule(*_schedule(request)))


async def delete_schedule(request: Request) -> Response:
    await client_of(request).delete_schedule(*_schedule(request))
    return reply(Ok(ok=True))


async def pause_schedule(request: Request) -> Response:
    await body_of(request, EmptyBody, optional=True)
    return reply(await client_of(request).pause_schedule(*_schedule(request)))


async def resume_schedule(request: Request) -> Response:
    await body_of(request, EmptyBody, optional=True)
    return reply(await client_of(request).resume_schedule(*_schedule(request)))


async def trigger_schedule(request: Request) -> Response:
    await body_of(request, EmptyBody, optional=True)
    key = idempotency_key(request)
    await client_of(request).trigger_schedule(*_schedule(request), idempotency_key=key)
    return reply(Ok(ok=True))


def bulk(action: str) -> type[BulkBody]:
    return BulkRetryBody if action == "retry-step" else BulkBody


def bulk_endpoint(action: str) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        body = await body_of(request, bulk(action), optional=False)
        result = await client_of(request).bulk(
            request.path_params["workflow"],
            action,
            status=body.status,
            ids=body.ids,
            delay_ms=body.delayMs if isinstance(body, BulkRetryBody) else 0,
            idempotency_key=idempotency_key(request),
        )
        return reply(result)

    endpoint.__name__ = f"bulk_{action.replace('-', '_')}"
    return endpoint


def control_routes(mount: str) -> list[BaseRoute]:
    """Schedules under `/{workflow}/schedules` and bulk control under `/{workflow}/bulk`."""
    schedules = f"{mount}/{{workflow}}/schedules"
    one = f"{schedules}/{{id}}"
    routes: list[BaseRoute] = [
        by_method(schedules, GET=list_schedules, POST=create_schedule),
        by_method(one, GET=get_schedule, DELETE=delete_schedule),
        Route(f"{one}/pause", pause_schedule, methods=["POST"]),
        Route(f"{one}/resume", resume_schedule, methods=["POST"]),
        Route(f"{one}/trigger", trigger_schedule, methods=["POST"]),
    ]
    for action in BULK_ACTIONS:
        path = f"{mount}/{{workflow}}/bulk/{action}"
        routes.append(Route(path, bulk_endpoint(action), methods=["POST"]))
    return routes
