"""The event loop a worker process runs on: uvloop's where it is installed (a dependency on Linux
and macOS), else asyncio's own. uvloop's loop does the same work with less CPU per wake-up,
socket read and task switch, which is most of what a worker does between its Redis calls; the
API gets the same from uvicorn, which picks uvloop and httptools by itself when present."""

from __future__ import annotations

import asyncio


def install() -> asyncio.AbstractEventLoop:
    """Make a fresh event loop this thread's current one and return it (arq's Worker takes the
    current loop when it is built). Call it where no loop is running."""
    try:
        import uvloop
    except ImportError:  # Windows, PyPy: asyncio's loop
        loop = asyncio.new_event_loop()
    else:
        loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    return loop
