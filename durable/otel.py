"""The OpenTelemetry spans (imported only when durable.tracing finds OpenTelemetry).

- `execute <workflow>` (kind CONSUMER): one execution of an instance, from lease to release.
  Its parent is the span of the API request that created the instance or last sent it an
  event (its `traceparent`, stored on the instance by that same write).
- `step <name>`: one attempt of a `do` step, a child of its execution.
- `<METHOD> <route>` (kind SERVER): an API request, continuing the caller's `traceparent`.

Attributes: durable.workflow, durable.instance, durable.run, durable.step_key, durable.attempt
and durable.outcome (of an execution). Nothing is made while no tracer provider is set up.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Awaitable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, TypeVar

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, StatusCode, Tracer, TracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import Attributes

from durable.observe import Observer
from durable.records import InstanceRecord

if TYPE_CHECKING:
    from durable.replies import Acquired
    from durable.store import Ref

T = TypeVar("T")
TRACER_NAME = "durable"

_propagator = TraceContextTextMapPropagator()
_provider: TracerProvider | None = None
_execution_span: contextvars.ContextVar[Span | None] = contextvars.ContextVar(
    "durable_execution_span", default=None
)


def configure(provider: TracerProvider | None) -> None:
    global _provider
    _provider = provider


def tracer() -> Tracer | None:
    """durable's tracer, or None while no tracer provider is set up (spans would go nowhere)."""
    provider = _provider or trace.get_tracer_provider()
    if isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider):
        return None
    return _tracer_of(provider)


@functools.lru_cache(maxsize=8)
def _tracer_of(provider: TracerProvider) -> Tracer:
    return provider.get_tracer(TRACER_NAME)


def traceparent() -> str:
    if not trace.get_current_span().get_span_context().is_valid:
        return ""
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier.get("traceparent", "")


def _parent(value: str | None) -> Context | None:
    """The context a stored traceparent names (None: none stored, so the current one)."""
    return _propagator.extract({"traceparent": value}) if value else None


class Spans(Observer):
    def execution(self, call: Awaitable[T], ref: Ref, acquired: Acquired) -> Awaitable[T]:
        found = tracer()
        return call if found is None else self._execution(found, call, ref, acquired)

    async def _execution(
        self, found: Tracer, call: Awaitable[T], ref: Ref, acquired: Acquired
    ) -> T:
        instance = InstanceRecord.decode(acquired.instance)
        attributes: Attributes = {
            "durable.workflow": ref.workflow,
            "durable.instance": ref.instance_id,
            "durable.run": instance.run,
        }
        with found.start_as_current_span(
            f"execute {ref.workflow}",
            context=_parent(instance.traceparent),  # of the create or event that led here
            kind=SpanKind.CONSUMER,
            attributes=attributes,
        ) as span:
            token = _execution_span.set(span)
            try:
                return await call
            finally:
                _execution_span.reset(token)

    def execution_ended(self, workflow: str, outcome: str) -> None:
        span = _execution_span.get()
        if span is None:
            return
        span.set_attribute("durable.outcome", outcome)
        if outcome == "error":
            span.set_status(StatusCode.ERROR, "the workflow raised")

    def attempt(
        self, call: Awaitable[T], ref: Ref, run: int, key: str, attempt: int
    ) -> Awaitable[T]:
        found = tracer()
        return call if found is None else self._attempt(found, call, ref, run, key, attempt)

    async def _attempt(
        self, found: Tracer, call: Awaitable[T], ref: Ref, run: int, key: str, attempt: int
    ) -> T:
        attributes: Attributes = {
            "durable.workflow": ref.workflow,
            "durable.instance": ref.instance_id,
            "durable.run": run,
            "durable.step_key": key,
            "durable.attempt": attempt,
        }
        name = key.partition("#")[0]  # `name#3` is the fourth call of `name`: one span name
        with found.start_as_current_span(f"step {name}", attributes=attributes):
            return await call


@functools.cache
def spans() -> Spans:
    return Spans()


@contextmanager
def request_span(method: str, headers: Mapping[str, str]) -> Iterator[Span | None]:
    """A server span for an API request, a child of the caller's `traceparent` if it sent one."""
    found = tracer()
    if found is None:
        yield None
        return
    parent = _propagator.extract(headers)
    attributes = {"http.request.method": method}
    with found.start_as_current_span(
        method, context=parent, kind=SpanKind.SERVER, attributes=attributes
    ) as span:
        yield span


def end_request_span(span: Span, method: str, route: str, status: int) -> None:
    span.update_name(f"{method} {route}")
    span.set_attribute("http.route", route)
    span.set_attribute("http.response.status_code", status)
    if status >= 500:
        span.set_status(StatusCode.ERROR)
