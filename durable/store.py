"""Redis access: every state transition is one Lua script from durable/lua/.

The store knows keys and script arguments; it does not interpret records (durable.records does).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from durable import keys
from durable.settings import Settings

SCRIPT_NAMES = (
    "create",
    "acquire",
    "renew",
    "save_step",
    "wait_event",
    "release",
    "finish",
    "reap",
    "pause",
    "resume",
    "terminate",
    "restart",
    "retry_step",
    "send_event",
    "read",
)


def _source(name: str) -> str:
    return resources.files("durable").joinpath("lua", f"{name}.lua").read_text()


def script_source(name: str, settings: Settings) -> str:
    """One script: the shared preamble, with this deployment's constants, then its body."""
    constants = {
        "__PREFIX__": settings.prefix,
        "__FUNCTION__": keys.ADVANCE_FUNCTION,
        "__JOB_TTL__": str(settings.job_timeout_ms),
        "__RETENTION__": str(settings.retention_ms),
        "__LEASE_TTL__": str(settings.lease_ttl_ms),
    }
    preamble = _source("_lib")
    for placeholder, value in constants.items():
        preamble = preamble.replace(placeholder, value)
    return preamble + "\n" + _source(name)


def pairs(flat: list[Any]) -> dict[str, str]:
    """HGETALL-style flat list -> dict of str."""
    it = iter(flat)
    return {_s(k): _s(v) for k, v in zip(it, it, strict=True)}


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass(frozen=True)
class Ref:
    workflow: str
    instance_id: str


class Store:
    def __init__(self, redis: Redis, settings: Settings) -> None:
        self.redis = redis
        self.settings = settings
        self._scripts: dict[str, AsyncScript] = {
            name: redis.register_script(script_source(name, settings)) for name in SCRIPT_NAMES
        }

    async def call(self, script: str, ref: Ref, *args: Any) -> list[Any]:
        """Run an instance script with the shared KEYS/ARGV preamble, then `args`."""
        keys_, argv = self._arguments(ref, args)
        result = await self._scripts[script](keys=keys_, args=argv)
        return list(decode(result))

    async def call_in(self, pipe: Any, script: str, ref: Ref, *args: Any) -> None:
        """Queue a script call on a pipeline; its reply comes from pipe.execute()."""
        keys_, argv = self._arguments(ref, args)
        await self._scripts[script](keys=keys_, args=argv, client=pipe)

    def _arguments(self, ref: Ref, args: tuple[Any, ...]) -> tuple[list[str], list[Any]]:
        key = keys.instance_key(self.settings.prefix, ref.workflow, ref.instance_id)
        return [key], [ref.workflow, ref.instance_id, *args]

    async def reap(self, limit: int = 100) -> tuple[int, int]:
        placeholder = Ref("-", "-")
        recovered, expired = await self.call("reap", placeholder, limit)
        return int(recovered), int(expired)

    async def due_jobs(self, now_ms: int, limit: int) -> list[str]:
        raw = await self.redis.zrangebyscore(
            keys.queue_key(self.settings.prefix), "-inf", now_ms, start=0, num=limit
        )
        return [_s(j) for j in raw]

    async def redis_time_ms(self) -> int:
        seconds, micros = await self.redis.time()
        return int(seconds) * 1000 + int(micros) // 1000


def decode(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value


def ref_from_job_id(prefix: str, job_id: str) -> Ref | None:
    """Inverse of keys.job_id_stem: 'P:job:wf/id:n' -> Ref(wf, id)."""
    stem = f"{prefix}:job:"
    if not job_id.startswith(stem):
        return None
    body, _, counter = job_id[len(stem) :].rpartition(":")
    if not counter.isdigit():
        return None
    wf, iid = keys.split_tag(body)
    return Ref(wf, iid) if wf and iid else None
