"""The vocabulary the API package speaks in."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeAlias

from starlette.requests import Request

from durable.workflow import RegistryLike

JSONDict: TypeAlias = dict[str, Any]

# An extra access policy: return (or resolve to) False to answer 401 UNAUTHORIZED.
Authorize: TypeAlias = Callable[[Request], bool | Awaitable[bool]]

__all__ = ["Authorize", "JSONDict", "RegistryLike"]
