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


def script_source(name: str) -> str:
    """The full text of one script: the shared preamble then the script's own body."""
    return _source("_lib") + "\n" + _source(name)


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
            name: redis.register_script(script_source(name)) for name in SCRIPT_NAMES
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
        s, wf, iid = self.settings, ref.workflow, ref.instance_id
        keys_ = [
            keys.instance_key(s.prefix, wf, iid),
            keys.workflow_index_key(s.prefix, wf),
            keys.queue_key(s.prefix),
            keys.leases_key(s.prefix),
            keys.expiry_key(s.prefix),
        ]
        argv = [
            keys.instance_base(s.prefix, wf, iid),
            keys.status_index_stem(s.prefix, wf),
            keys.job_id_stem(s.prefix, wf, iid),
            iid,
            keys.tag(wf, iid),
            keys.ADVANCE_FUNCTION,
            s.job_timeout_ms,
            s.retention_ms,
            wf,
            s.lease_ttl_ms,
            *args,
        ]
        return keys_, argv

    async def reap(self, limit: int = 100) -> tuple[int, int]:
        placeholder = Ref("-", "-")
        recovered, expired = await self.call("reap", placeholder, limit, self.settings.prefix)
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
