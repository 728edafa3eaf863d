"""Time for scheduling decisions: the local clock, corrected to Redis server time.

Every stored timestamp and due time comes from Redis TIME inside the scripts; the engine keeps
the offset between its own clock and Redis so that workers with skewed clocks agree.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class Clock:
    def __init__(self, time_fn: Callable[[], float] = time.time) -> None:
        self._time_fn = time_fn
        self._offset_ms = 0

    def local_ms(self) -> int:
        return int(self._time_fn() * 1000)

    def now_ms(self) -> int:
        return self.local_ms() + self._offset_ms

    def sync(self, server_ms: int) -> None:
        """Record the server time just read, so now_ms() follows the server clock."""
        self._offset_ms = server_ms - self.local_ms()
