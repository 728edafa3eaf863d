"""Concurrency and rate limits of a workflow: what a user declares, and which gate an instance
waits at.

`@workflow("export", concurrency=Concurrency(2, key="tenant"))` lets at most 2 instances per
value of `params["tenant"]` be active (started and not ended); `rate_limit=RateLimit(10,
"1 min")` lets at most 10 instances start per sliding minute. Each value of the key has its
own gate (durable/gate.py keeps its state in Redis, durable/keys.py spells its keys).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from durable.durations import Duration, to_ms
from durable.errors import ConfigurationError, InvalidDurationError

KEY_PATH_MAX = 200


@dataclass(frozen=True)
class Concurrency:
    """At most `limit` active instances per value of `key` (a dotted path into the params;
    None: one limit for the whole workflow)."""

    limit: int
    key: str | None = None

    def __post_init__(self) -> None:
        _check_limit("Concurrency", self.limit)
        _check_key("Concurrency", self.key)


@dataclass(frozen=True)
class RateLimit:
    """At most `limit` instance starts per `period` (a sliding window) per value of `key`."""

    limit: int
    period: Duration
    key: str | None = None

    def __post_init__(self) -> None:
        _check_limit("RateLimit", self.limit)
        _check_key("RateLimit", self.key)
        try:
            period_ms = to_ms(self.period)
        except InvalidDurationError as exc:
            raise ConfigurationError(f"RateLimit period: {exc}") from exc
        if period_ms < 1:
            raise ConfigurationError("RateLimit period must be at least 1 ms")

    @property
    def period_ms(self) -> int:
        return to_ms(self.period)


@dataclass(frozen=True)
class Limits:
    """A workflow's limits, both sharing one key (so one gate enforces both)."""

    concurrency: Concurrency | None = None
    rate_limit: RateLimit | None = None

    def __post_init__(self) -> None:
        if self.concurrency is not None and not isinstance(self.concurrency, Concurrency):
            raise ConfigurationError(f"concurrency must be a Concurrency, got {self.concurrency!r}")
        if self.rate_limit is not None and not isinstance(self.rate_limit, RateLimit):
            raise ConfigurationError(f"rate_limit must be a RateLimit, got {self.rate_limit!r}")
        if self.concurrency and self.rate_limit and self.concurrency.key != self.rate_limit.key:
            raise ConfigurationError(
                "concurrency and rate_limit of one workflow must name the same key, got "
                f"{self.concurrency.key!r} and {self.rate_limit.key!r}"
            )

    @property
    def declared(self) -> bool:
        return self.concurrency is not None or self.rate_limit is not None

    @property
    def key(self) -> str | None:
        return (self.concurrency or self.rate_limit or Concurrency(1)).key

    def key_value(self, params: Any) -> str:
        """The gate's key value as JSON text: the params field the key names (`null` when it
        is missing, so every instance without it shares one gate); `null` without a key."""
        if self.key is None:
            return "null"
        value: Any = params
        for part in self.key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)

    def argv(self) -> dict[str, int]:
        """The limits as the gate scripts take them (0: no such limit)."""
        rate = self.rate_limit
        return {
            "concurrency_limit": self.concurrency.limit if self.concurrency else 0,
            "rate_limit": rate.limit if rate else 0,
            "period_ms": rate.period_ms if rate else 0,
        }


def gate_id(key_value: str) -> str:
    """A gate's name in its keys: a digest of the key value, so any value makes a valid key."""
    return hashlib.sha1(key_value.encode(), usedforsecurity=False).hexdigest()


def _check_limit(what: str, limit: object) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ConfigurationError(f"{what} limit must be an integer >= 1, got {limit!r}")


def _check_key(what: str, key: object) -> None:
    if key is None:
        return
    if not isinstance(key, str) or not 0 < len(key) <= KEY_PATH_MAX:
        raise ConfigurationError(
            f"{what} key must be a params field path of 1-{KEY_PATH_MAX} characters, got {key!r}"
        )
    if any(not part for part in key.split(".")):
        raise ConfigurationError(f"{what} key {key!r} has an empty field name")
