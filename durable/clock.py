"""Time for scheduling decisions: the local clock, corrected to Redis server time.

Every stored timestamp and due time comes from Redis TIME inside the scripts; the engine keeps
the offset between its own clock and Redis so that workers with skewed clocks agree.
"""

from __future__ import annotations

import time
from collections.abc import Callable

RESYNC_MS = 1000


class Clock:
    def __init__(self, time_fn: Callable[[], float] = time.time) -> None:
        self._time_fn = time_fn
        self._offset_ms = 0
        self._synced = False

    def local_ms(self) -> int:
        return int(self._time_fn() * 1000)

    def now_ms(self) -> int:
        return self.local_ms() + self._offset_ms

    def sync(self, server_ms: int) -> None:
        """Record the server time just read, so now_ms() follows the server clock.

        A reply reaches us some time after the server read its clock, so each reading
        underestimates the offset by that delay: keep the largest recent one, unless the
        clocks jumped (more than a second), which resets it.
        """
        offset = server_ms - self.local_ms()
        if self._synced and abs(offset - self._offset_ms) < RESYNC_MS:
            offset = max(offset, self._offset_ms)
        self._offset_ms, self._synced = offset, True
