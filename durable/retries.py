"""Retry policies: how many attempts a step gets and how long to wait between them."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Literal

from durable.durations import Duration, to_ms
from durable.errors import DurableError

Backoff = Literal["constant", "linear", "exponential"]
_BACKOFFS = ("constant", "linear", "exponential")


@dataclass(frozen=True)
class Retries:
    """`limit` retries after the first attempt; delay after failed attempt a (1-based)."""

    limit: int = 0
    delay: Duration = 0
    backoff: Backoff = "constant"
    max_delay: Duration | None = None
    jitter: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.limit, bool) or not isinstance(self.limit, int) or self.limit < 0:
            raise DurableError(f"retries.limit must be a non-negative integer, got {self.limit!r}")
        if self.backoff not in _BACKOFFS:
            raise DurableError(f"retries.backoff must be one of {_BACKOFFS}, got {self.backoff!r}")
        to_ms(self.delay)
        if self.max_delay is not None:
            to_ms(self.max_delay)

    @property
    def max_attempts(self) -> int:
        return self.limit + 1

    def delay_ms(self, attempt: int, rng: random.Random | None = None) -> int:
        base = to_ms(self.delay)
        if self.backoff == "linear":
            delay = base * attempt
        elif self.backoff == "exponential":
            delay = base * 2 ** (attempt - 1)
        else:
            delay = base
        if self.max_delay is not None:
            delay = min(delay, to_ms(self.max_delay))
        if self.jitter and delay > 0:
            delay = round((rng or random).uniform(delay / 2, delay))
        return delay


NO_RETRIES = Retries()


def as_retries(value: Retries | dict[str, Any] | None) -> Retries:
    if value is None:
        return NO_RETRIES
    if isinstance(value, Retries):
        return value
    if isinstance(value, dict):
        unknown = set(value) - {"limit", "delay", "backoff", "max_delay", "maxDelay", "jitter"}
        if unknown:
            raise DurableError(f"unknown retries keys: {sorted(unknown)}")
        options = dict(value)
        if "maxDelay" in options:
            options["max_delay"] = options.pop("maxDelay")
        return Retries(**options)
    raise DurableError(f"retries must be a Retries or a dict, got {type(value).__name__}")
