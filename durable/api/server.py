"""Running the API under uvicorn; `durable api` calls `serve`."""

from __future__ import annotations

import uvicorn

from durable.api.app import create_app
from durable.settings import Settings
from durable.workflow import load_registry


def serve(
    workflows: str,
    host: str = "127.0.0.1",
    port: int = 8000,
    settings: Settings | None = None,
) -> None:
    """Serve the workflows at import path `module:attr` until interrupted."""
    app = create_app(settings, workflows=load_registry(workflows))
    uvicorn.run(app, host=host, port=port, lifespan="on")
