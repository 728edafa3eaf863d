"""How a step function is called: with or without a StepContext, on the loop or in a thread."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any


def takes_context(fn: Callable[..., Any]) -> bool:
    code = getattr(fn, "__code__", None)
    if code is not None and getattr(fn, "__defaults__", None) is None:
        cached = _CONTEXT_CACHE.get(code)
        if cached is None:
            cached = _CONTEXT_CACHE[code] = _signature_takes_context(fn)
        return cached
    return _signature_takes_context(fn)


_CONTEXT_CACHE: dict[Any, bool] = {}


def _signature_takes_context(fn: Callable[..., Any]) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return any(p.kind in positional and p.default is p.empty for p in params)


def is_async(fn: Callable[..., Any]) -> bool:
    call = getattr(fn, "__call__", None)  # noqa: B004 - async callable objects
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(call)
