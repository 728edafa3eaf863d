"""OpenTelemetry tracing, with the optional extra (`pip install 'durable[otel]'`).

Without OpenTelemetry installed nothing here imports it and every call returns at once; with
it, spans go to the global tracer provider the application sets up (or to the one given to
`configure`), and nothing is recorded until one is. DURABLE_TRACING=off turns it all off.
The spans themselves are made in durable.otel, imported only once tracing is on.
"""

from __future__ import annotations

import importlib.util
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from durable.observe import Observer

TRACING_ENV = "DURABLE_TRACING"
_OFF = frozenset({"0", "off", "false", "no"})
_enabled: bool | None = None


def enabled() -> bool:
    """Whether OpenTelemetry is installed and DURABLE_TRACING does not turn it off (decided
    once per process, at the first call)."""
    global _enabled
    if _enabled is None:
        _enabled = _decide()
    return _enabled


def _decide() -> bool:
    if os.environ.get(TRACING_ENV, "").strip().lower() in _OFF:
        return False
    try:
        return importlib.util.find_spec("opentelemetry.trace") is not None
    except (ImportError, ValueError):
        return False


def traceparent() -> str:
    """The W3C `traceparent` of the current span, to store with what a request creates (an
    instance, an event); '' without a recording span or without OpenTelemetry."""
    if not enabled():
        return ""
    from durable import otel

    return otel.traceparent()


def observer() -> Observer | None:
    """The observer that makes execution and step spans, or None without OpenTelemetry."""
    if not enabled():
        return None
    from durable import otel

    return otel.spans()


def configure(tracer_provider: Any = None) -> None:
    """Send durable's spans to `tracer_provider` rather than the global provider (None: back
    to the global one). Needs OpenTelemetry."""
    from durable import otel

    otel.configure(tracer_provider)
