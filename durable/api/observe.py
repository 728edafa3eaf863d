"""The API server's `GET /metrics` (Prometheus text) and what it counts about requests.

`/metrics` answers with the instances of every registered workflow by status and the jobs in
the queue, read at scrape time through the Client (`counts_by_workflow` and `queue_depth`: the
status indexes' and queues' sizes summed over the partitions, two round trips made at once, no
SCAN), plus the server's requests by route template and status code. It sits at the server's
root, beside the API's mount, behind the same token as the API.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Iterator
from contextlib import nullcontext
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from redis.exceptions import RedisError
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from durable import tracing
from durable.api.routes import client_of
from durable.client import Client
from durable.errors import ClientError
from durable.metrics import LATENCY_BUCKETS_S

METRICS_PATH = "/metrics"
# The classic text format, which every Prometheus reads (every name here is a classic name).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
SCRAPE_TIMEOUT_S = 2.0
UNMATCHED = "unmatched"  # the route label of a path no route serves (404s): one value, not many


class HttpMetrics:
    """Requests and their latency, in a registry of one app's own (several apps in one
    process, as in tests, count apart)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        labels = ["method", "route", "status"]
        self.requests = Counter(
            "durable_http_requests",
            "HTTP requests served, by method, route template and status code.",
            labels,
            registry=self.registry,
        )
        self.seconds = Histogram(
            "durable_http_request_duration_seconds",
            "Time to answer an HTTP request, by method, route template and status code.",
            labels,
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.seconds.labels(method, route, str(status)).observe(seconds)


class RequestObserver:
    """Outermost middleware: counts every request under its route template, and with
    OpenTelemetry wraps it in a server span that continues the caller's `traceparent`."""

    def __init__(self, app: ASGIApp, *, metrics: HttpMetrics, extra_routes: list[BaseRoute]):
        self.app = app
        self.metrics = metrics
        self.extra_routes = extra_routes  # served beside the router (the dashboard's)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # if the app fails before answering, the server answers 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        method, started = scope["method"], time.perf_counter()
        with _span(scope) as span:
            try:
                await self.app(scope, receive, sending)
            finally:
                route = self.route_of(scope)
                self.metrics.observe(method, route, status, time.perf_counter() - started)
                if span is not None:
                    from durable import otel

                    otel.end_request_span(span, method, route, status)

    def route_of(self, scope: Scope) -> str:
        route = scope.get("route")  # set by Starlette's router (1.x) on the scope it was given
        if isinstance(route, Route):
            return route.path
        for candidate in (*scope["app"].routes, *self.extra_routes):
            match, _ = candidate.matches(scope)
            if match is not Match.NONE:
                return str(getattr(candidate, "path", UNMATCHED))
        return UNMATCHED


def _span(scope: Scope) -> Any:
    if not tracing.enabled():
        return nullcontext(None)
    from durable import otel

    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    return otel.request_span(scope["method"], headers)


# -- the endpoint --------------------------------------------------------------------------------


async def metrics(request: Request) -> Response:
    state = request.app.state
    snapshot = await read_snapshot(client_of(request))
    body = b"".join(
        generate_latest(registry)
        for registry in (_registry_of(snapshot), state.http_metrics.registry, REGISTRY)
    )
    return Response(body, media_type=CONTENT_TYPE)


class Snapshot(Collector):
    """What Redis held at scrape time; `up` False when it could not be read."""

    def __init__(self, up: bool, instances: dict[tuple[str, str], int], due: int, later: int):
        self.up, self.instances, self.due, self.later = up, instances, due, later

    def collect(self) -> Iterable[Metric]:
        yield GaugeMetricFamily(
            "durable_redis_up", "1 when /metrics could read Redis, else 0.", value=int(self.up)
        )
        if not self.up:
            return
        yield from self._gauges()

    def _gauges(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "durable_instances",
            "Instances by workflow and status (the status indexes' sizes).",
            labels=["workflow", "status"],
        )
        for (workflow, status), count in self.instances.items():
            family.add_metric([workflow, status], count)
        yield family
        yield GaugeMetricFamily(
            "durable_due_jobs",
            "Wake-ups due now that no worker has started yet (queued instances, fired timers).",
            value=self.due,
        )
        yield GaugeMetricFamily(
            "durable_scheduled_jobs",
            "Wake-ups due later (sleeps, retry backoffs, event-wait deadlines).",
            value=self.later,
        )


def _registry_of(snapshot: Snapshot) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(snapshot)
    return registry


async def read_snapshot(client: Client) -> Snapshot:
    """Every workflow's instances by status and the queue's depth, read at once."""
    try:
        async with asyncio.timeout(SCRAPE_TIMEOUT_S):
            counts, depth = await asyncio.gather(client.counts_by_workflow(), client.queue_depth())
    except (ClientError, RedisError, OSError, TimeoutError):
        return Snapshot(False, {}, 0, 0)
    instances = {(wf, status): n for wf, by in counts.items() for status, n in by.items()}
    return Snapshot(True, instances, depth.due, depth.scheduled)


# -- for create_app ------------------------------------------------------------------------------


def metrics_route() -> Route:
    """`GET /metrics`, outside the OpenAPI document (it is not JSON)."""
    return Route(METRICS_PATH, metrics, methods=["GET"], include_in_schema=False)


def request_observer(http_metrics: HttpMetrics) -> Middleware:
    """The outermost middleware, knowing the dashboard's routes (served before the router)."""
    from durable.dashboard.app import routes as dashboard_routes

    return Middleware(RequestObserver, metrics=http_metrics, extra_routes=dashboard_routes())
