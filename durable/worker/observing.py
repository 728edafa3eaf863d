"""Which observers a worker installs: its metrics (when it serves them, or writes them for
another process to serve) and OpenTelemetry spans (when OpenTelemetry is installed)."""

from __future__ import annotations

import logging
import os
from typing import Any

from durable import metrics, observe, tracing

METRICS_PORT_ENV = "DURABLE_METRICS_PORT"
METRICS_HOST_ENV = "DURABLE_METRICS_HOST"
SERVING = "durable_metrics"  # ctx key: this process serves (or writes) its metrics
log = logging.getLogger("durable.worker")
_served: tuple[str, int] | None = None


def serve_metrics(port: int, host: str | None = None) -> None:
    """Serve this process's metrics on host:port, once per process (a worker restarted after a
    lost Redis keeps its server). Raises MetricsServerError when the port cannot be had."""
    global _served
    host = host or os.environ.get(METRICS_HOST_ENV) or metrics.DEFAULT_HOST
    if _served is None:
        metrics.serve(port, host)
        _served = (host, port)
        shown = f"[{host}]" if ":" in host else host
        log.info("serving metrics at http://%s:%d/metrics", shown, port)


def install(ctx: dict[str, Any]) -> None:
    """At worker start-up. `arq durable.worker.WorkerSettings` gets its port from
    DURABLE_METRICS_PORT here; `durable worker` has served it already and says so in ctx."""
    port = os.environ.get(METRICS_PORT_ENV, "").strip()
    if not ctx.get(SERVING) and port.isdigit():
        serve_metrics(int(port))
        ctx[SERVING] = True
    found: list[observe.Observer] = []
    if ctx.get(SERVING) or metrics.multiprocess_dir():
        found.append(metrics.worker_metrics())
    spans = tracing.observer()
    if spans is not None:
        found.append(spans)
    observe.install(*found)
