"""Settings read from the environment, with the defaults the spec gives."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from typing import Any

from durable.durations import to_ms
from durable.errors import ConfigurationError, InvalidDurationError

MIB = 1024 * 1024
MAX_PARTITIONS = 1024


def _env_duration_ms(name: str, default: str) -> int:
    raw = os.environ.get(name, default)
    try:
        return to_ms(raw)
    except InvalidDurationError as exc:
        raise ConfigurationError(f"{name}: {exc}") from exc


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigurationError(f"{name} must be an integer, got {raw!r}") from exc


def _env_optional_int(name: str) -> int | None:
    return None if os.environ.get(name, "") == "" else _env_int(name, 0)


@dataclass(frozen=True)
class Settings:
    redis_url: str = "redis://localhost:6379/0"
    prefix: str = "durable"
    lease_ttl_ms: int = 10_000
    retention_ms: int = 7 * 86_400_000
    poll_interval_ms: int = 5
    max_body_bytes: int = MIB
    max_payload_bytes: int = MIB
    max_steps_per_run: int = 10_000
    max_interruptions: int = 5
    job_timeout_ms: int = 86_400_000
    shutdown_grace_ms: int = 10_000
    api_token: str | None = field(default=None, repr=False)
    enable_runner_tick: bool = False
    mount_path: str = "/api/workflows"
    startup_timeout_ms: int = 10_000
    # None: as stored in Redis, else 1 on one Redis and 48 on a cluster (durable/partitions.py)
    partitions: int | None = None

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        """Read DURABLE_* and REDIS_URL; keyword overrides win over the environment."""
        base = cls(
            redis_url=os.environ.get("REDIS_URL") or cls.redis_url,
            prefix=os.environ.get("DURABLE_PREFIX") or cls.prefix,
            lease_ttl_ms=_env_duration_ms("DURABLE_LEASE_TTL", "10 s"),
            retention_ms=_env_duration_ms("DURABLE_RETENTION", "7 d"),
            poll_interval_ms=_env_duration_ms("DURABLE_POLL_INTERVAL", "5 ms"),
            max_body_bytes=_env_int("DURABLE_MAX_BODY_BYTES", MIB),
            max_payload_bytes=_env_int("DURABLE_MAX_PAYLOAD_BYTES", MIB),
            max_steps_per_run=_env_int("DURABLE_MAX_STEPS", 10_000),
            shutdown_grace_ms=_env_duration_ms("DURABLE_SHUTDOWN_GRACE", "10 s"),
            api_token=os.environ.get("DURABLE_API_TOKEN") or None,
            enable_runner_tick=os.environ.get("DURABLE_ENABLE_RUNNER_TICK", "") in ("1", "true"),
            mount_path=os.environ.get("DURABLE_MOUNT_PATH") or cls.mount_path,
            startup_timeout_ms=_env_duration_ms("DURABLE_STARTUP_TIMEOUT", "10 s"),
            partitions=_env_optional_int("DURABLE_PARTITIONS"),
        )
        settings = replace(base, **overrides)
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.lease_ttl_ms < 500:
            raise ConfigurationError("lease TTL must be at least 500 ms")
        if self.partitions is not None and not 1 <= self.partitions <= MAX_PARTITIONS:
            raise ConfigurationError(
                f"DURABLE_PARTITIONS must be between 1 and {MAX_PARTITIONS}, got {self.partitions}"
            )
        if not re.fullmatch(r"[A-Za-z0-9_.:-]{1,64}", self.prefix):
            raise ConfigurationError(
                f"invalid key prefix {self.prefix!r}: 1-64 letters, digits or _ . : -"
            )
