"""The HTTP API of durable: a Starlette application over `durable.client.Client`."""

from api.app import create_app
from api.server import serve

__all__ = ["create_app", "serve"]
