"""Running the API under uvicorn; `durable api` calls `serve`."""

from __future__ import annotations

import uvicorn

from durable import logs
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
    if not logs.is_configured():
        logs.configure_from_env()
    uvicorn.run(app, host=host, port=port, lifespan="on", log_config=None)
