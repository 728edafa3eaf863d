"""Running the API under uvicorn; `durable api` calls `serve`."""

from __future__ import annotations

import uvicorn

from durable import logs, partitions
from durable.api.app import create_app
from durable.settings import Settings
from durable.workflow import load_registry


def serve(
    workflows: str,
    host: str = "127.0.0.1",
    port: int = 8000,
    settings: Settings | None = None,
) -> None:
    """Serve the workflows at import path `module:attr` until interrupted.

    uvicorn's own logging set-up is skipped: its access and error lines go through the
    process's handler (see durable.logs), in the same format as every other line.
    """
    app = create_app(settings, workflows=load_registry(workflows))
    # refuse to start with partitions other than Redis holds (PartitionsError); a Redis that
    # cannot be reached yet is no reason not to serve (503 until it is back)
    partitions.verify_at_start(app.state.settings)
    if not logs.is_configured():
        logs.configure_from_env()
    uvicorn.run(app, host=host, port=port, lifespan="on", log_config=None)
