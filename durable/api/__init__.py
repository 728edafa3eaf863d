"""The HTTP API of durable: a Starlette application over `durable.client.Client`."""

from durable.api.app import create_app
from durable.api.server import serve

__all__ = ["create_app", "serve"]
