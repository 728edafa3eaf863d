"""Redis access: every state transition is one Lua script from durable/lua/, run by one typed
method here.

The store owns the boundary to the scripts: which keys (from durable.keys) and which arguments
each script takes, by name (`SCRIPTS`, the same names as the script's header), and the decoding
of its reply (durable.replies). It does not interpret records (durable.records does).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal

from redis.asyncio.cluster import RedisCluster
from redis.commands.core import AsyncScript

from durable import cluster, keys, replies
from durable.cluster import AnyRedis
from durable.partitions import Layout, open_layout
from durable.replies import (
    Acquired,
    Conflict,
    Controlled,
    Created,
    Early,
    EventStored,
    Exists,
    Fenced,
    Finished,
    ForeignJob,
    GateHeld,
    GateMarked,
    GateState,
    GateWoken,
    Invoked,
    LimitReached,
    NotErrored,
    NotFound,
    NothingDue,
    Reaped,
    Recalled,
    Refused,
    Released,
    Renewed,
    Reopened,
    Restarted,
    Saved,
    Snapshot,
    Taken,
    Terminal,
    WaitResolved,
)
from durable.settings import Settings

# The per-instance keys a script can take as KEYS, by the name its body uses.
INSTANCE_KEYS: dict[str, Callable[[str, str, str], str]] = {
    "ikey": keys.instance_key,
    "steps_stem": keys.steps_stem,
    "events_stem": keys.events_stem,
    "logs_stem": keys.logs_stem,
    "eids_key": keys.event_ids_key,
    "children_key": keys.children_key,
}


@functools.lru_cache(maxsize=4096)
def _instance_keys(prefix: str, workflow: str, instance_id: str) -> dict[str, str]:
    """An instance's keys by script name (cached: a worker writes the same instance often)."""
    return {name: build(prefix, workflow, instance_id) for name, build in INSTANCE_KEYS.items()}


# ... and the one per-call key: the idempotency answer of a control call ('' for none).
KEY_NAMES = (*INSTANCE_KEYS, "answer_key")

# A script call made another way than through the script object: (script, KEYS, ARGV) -> reply.
ScriptCaller = Callable[[AsyncScript, list[str], list[Any]], Awaitable[Any]]

# Control calls that remember their answer to an Idempotency-Key (keys.idempotency_key).
IdempotentOp = Literal["restart", "terminate", "retry-step"]


@dataclass(frozen=True)
class Script:
    """A script's KEYS and ARGV, by name; its .lua header lists the same names in order."""

    keys: tuple[str, ...]
    argv: tuple[str, ...] = ()
    instance: bool = True  # ARGV starts with the workflow and the instance id (wf, iid)
    includes: tuple[str, ...] = ()  # shared code it needs besides _lib.lua (INCLUDES)

    def prologue(self) -> str:
        """Lua that binds KEYS and ARGV to the names the script's body uses."""
        given = [f"KEYS[{self.keys.index(n) + 1}]" if n in self.keys else "nil" for n in KEY_NAMES]
        lines = [f"local {', '.join(KEY_NAMES)} = {', '.join(given)}"]
        if self.keys == GATE_KEY_NAMES:  # a gate's script (durable/gate.py)
            bound = ", ".join(f"KEYS[{i + 1}]" for i in range(len(self.keys)))
            lines.append(f"local {', '.join(self.keys)} = {bound}")
        lines.append("local wf, iid = ARGV[1], ARGV[2]" if self.instance else "local wf, iid")
        first = 3 if self.instance else 1
        if self.argv:
            values = ", ".join(f"ARGV[{first + i}]" for i in range(len(self.argv)))
            lines.append(f"local {', '.join(self.argv)} = {values}")
        return "\n".join(lines)


# A gate's keys (keys.GATE_KEYS), by the names its scripts use.
GATE_KEY_NAMES = tuple(f"{part}_key" for part in keys.GATE_KEYS)
# scripts that expire or persist all of an instance's keys; and those that also settle what it
# owes its parent and children (_children.lua)
_EVERY = tuple(name for name in INSTANCE_KEYS if name != "children_key")
_ENDING = (*_EVERY, "children_key")
# Shared Lua beyond _lib.lua, in the order a script includes them: taking a lease (acquire,
# take) and housekeeping (reap, take); and what an instance owes its parent or children
# (_children.lua: finish, terminate, restart, invoke).
INCLUDES = ("_housekeeping", "_lease")
_CHILDREN = ("_children",)
# The most members the wake marker keeps (keys.wake_key): more than workers ever block at once.
WAKE_LIMIT = 1024
_LOGGED = ("log_lines", "log_count")

SCRIPTS: dict[str, Script] = {
    "create": Script(
        ("ikey",), ("params", "idempotency_key", "version", "traceparent", "parent", "awaited")
    ),
    "acquire": Script(("ikey", "steps_stem"), ("job_id", "owner", "ttl_ms"), includes=("_lease",)),
    "take": Script(
        (), ("owner", "ttl_ms", "token", "count", "ahead_ms"), instance=False, includes=INCLUDES
    ),
    "renew": Script(("ikey",), ("fence", "ttl_ms")),
    "save_step": Script(
        ("ikey", "steps_stem", "logs_stem"),
        ("fence", "run", "key", "record", "mode", *_LOGGED, "max_steps"),
    ),
    "wait_event": Script(
        ("ikey", "steps_stem", "events_stem", "logs_stem"),
        (
            *("fence", "run", "key", "event_type", "deadline_ms", "head"),
            *(*_LOGGED, "max_steps", "timeout_message"),
        ),
    ),
    "release": Script(("ikey", "logs_stem"), ("fence", "run", "due_ms", *_LOGGED, "mode")),
    "finish": Script(_ENDING, ("fence", "run", "outcome", "value", *_LOGGED), includes=_CHILDREN),
    "reap": Script((), ("limit",), instance=False, includes=("_housekeeping",)),
    "pause": Script(("ikey",)),
    "resume": Script(("ikey",)),
    "terminate": Script((*_ENDING, "answer_key"), ("token", "answer_ttl_ms"), includes=_CHILDREN),
    "restart": Script((*_ENDING, "answer_key"), ("token", "answer_ttl_ms"), includes=_CHILDREN),
    "retry_step": Script(
        (*_EVERY, "answer_key"),
        ("key", "expected", "head", "delay_ms", "answer_ttl_ms", "answer"),
    ),
    "send_event": Script(
        ("ikey", "steps_stem", "events_stem", "eids_key"),
        ("head", "payload", "event_id", "traceparent"),
    ),
    "read": Script(("ikey", "steps_stem")),
    "gate_enter": Script(
        GATE_KEY_NAMES,
        ("iid", "run", "created_ms", "concurrency_limit", "rate_limit", "period_ms", "key_value"),
        instance=False,
        includes=("_gate",),
    ),
    "gate_leave": Script(GATE_KEY_NAMES, ("iid", "below"), instance=False, includes=("_gate",)),
    "gate_grant": Script(("ikey",), ("fence", "run", "key_value")),
    "gate_wait": Script(("ikey",), ("fence", "run", "key_value", "note", "due_ms")),
    "gate_wake": Script(("ikey",), ("run", "due_ms")),
    "invoke": Script(
        ("ikey", "steps_stem", "logs_stem", "children_key"),
        (
            *("fence", "run", "key", "head", "child", "attach", "mode", "result", "deadline_ms"),
            *(*_LOGGED, "max_steps", "timeout_tail"),
        ),
        includes=_CHILDREN,
    ),
    "child_done": Script(
        ("ikey", "steps_stem", "children_key"), ("run", "key", "child", "outcome", "tail")
    ),
}


def _source(name: str) -> str:
    return resources.files("durable").joinpath("lua", f"{name}.lua").read_text()


def script_source(name: str, settings: Settings, *, partitioned: bool = False) -> str:
    """One script: the key schema and settings of this deployment and the script's arguments
    as Lua locals, then the shared preamble (_lib.lua) and the shared code it includes, then
    its body. With several partitions, one source serves them all: the keys are built from the
    partition prefix of the script's first key (`schema_source`)."""
    constants = "\n".join(
        [
            schema_source(settings.prefix, partitioned=partitioned),
            f"local fname = {_lua(keys.ADVANCE_FUNCTION)}",
            f"local job_ttl_ms = {int(settings.job_timeout_ms)}",
            f"local retention_ms = {int(settings.retention_ms)}",
            f"local lease_ttl_ms = {int(settings.lease_ttl_ms)}",
            f"local wake_limit = {WAKE_LIMIT}",
        ]
    )
    script = SCRIPTS[name]
    shared = [_source(part) for part in ("_lib", *script.includes)]
    return "\n".join([constants, script.prologue(), *shared, _source(name)])


# Stands for the partition prefix in the bindings of a partitioned layout (no prefix holds it).
_PARTITION = "\x01"
# ... which a script finds at the head of its first key: `P:{tag}` of `P:{tag}:...`.
_PARTITION_OF_KEYS = "local partition = string.match(KEYS[1], '^[^{]*{[^}]*}')"


def schema_source(prefix: str, *, partitioned: bool = False) -> str:
    """The key schema in Lua: keys.lua_bindings as local strings and functions. With one
    partition the prefix is spelled out; with several, the keys start with the local
    `partition`, the prefix of the partition the script's first key is in."""
    if not partitioned:
        bindings = keys.lua_bindings(prefix).items()
        return "\n".join(_binding(name, value) for name, value in bindings)
    bindings = keys.lua_bindings(_PARTITION).items()
    return "\n".join([_PARTITION_OF_KEYS, *(_binding(name, value) for name, value in bindings)])


def _binding(name: str, value: str | keys.Template) -> str:
    """A fixed key as a local string; a template as a local function of its parameters (as
    cheap as spelling the concatenation out: nothing is built per call but the closure)."""
    if isinstance(value, str):
        return f"local {name} = {_concat(_text(value))}"
    parts = _text(value.pieces[0])
    for param, piece in zip(value.params, value.pieces[1:], strict=True):
        parts += [param, *_text(piece)]
    return f"local function {name}({', '.join(value.params)}) return {_concat(parts)} end"


def _text(value: str) -> list[str]:
    """Lua expressions whose concatenation is `value`, the partition marker as `partition`."""
    literals = [_lua(piece) for piece in value.split(_PARTITION)]
    parts = [literals[0]]
    for literal in literals[1:]:
        parts += ["partition", literal]
    return parts


def _concat(parts: list[str]) -> str:
    return " .. ".join(part for part in parts if part != "''") or "''"


def _lua(value: str) -> str:
    """A Lua string literal."""
    return "'" + "".join(_lua_char(b) for b in value.encode()) + "'"


def _lua_char(byte: int) -> str:
    char = chr(byte)
    return char if 32 <= byte < 127 and char not in "'\\" else f"\\{byte:03d}"


def decode(value: Any) -> Any:
    """A reply with its bytes as str (a script's replies: bytes, integers, nested lists)."""
    kind = type(value)
    if kind is bytes:
        return value.decode()
    if kind is list:
        return [
            v.decode() if type(v) is bytes else decode(v) if type(v) is list else v for v in value
        ]
    return value


@dataclass(frozen=True)
class Ref:
    workflow: str
    instance_id: str


def ref_from_job_id(prefix: str, job_id: str) -> Ref | None:
    """The instance an arq job of this deployment advances ('P:job:wf/id:n' -> Ref(wf, id))."""
    parsed = keys.parse_job_id(prefix, job_id)
    return None if parsed is None else Ref(*parsed)


class Store:
    """The scripts of one deployment over one Redis client. On first use it opens: a plain
    client found to speak to a Redis Cluster node is replaced by a cluster client (which the
    store then owns and `aclose` closes), and the partition layout is read from Redis (or
    stored there, the first time)."""

    def __init__(self, redis: AnyRedis, settings: Settings) -> None:
        self.redis: AnyRedis = redis
        self.settings = settings
        self._layout: Layout | None = None
        self._owned: RedisCluster | None = None
        self._opening = asyncio.Lock()
        self._scripts: dict[str, AsyncScript] = {}
        # How script calls travel: the script object (None) or another transport, such as a
        # durable worker's pipelining of its concurrent calls (durable/worker/pipelining.py).
        self.caller: ScriptCaller | None = None

    async def open(self) -> Layout:
        """The partition layout, opening the store first if it is not open yet. Raises
        PartitionsError when the settings' partitions disagree with what Redis holds."""
        if self._layout is not None:
            return self._layout
        async with self._opening:
            if self._layout is None:
                in_cluster = await cluster.enabled(self.redis)
                if in_cluster and not isinstance(self.redis, RedisCluster):
                    self._owned = self.redis = cluster.connect(self.settings.redis_url)
                layout = await open_layout(
                    self.redis, self.settings.prefix, self.settings.partitions, cluster=in_cluster
                )
                partitioned = layout.count > 1
                self._scripts = {
                    name: cluster.register_script(
                        self.redis, script_source(name, self.settings, partitioned=partitioned)
                    )
                    for name in SCRIPTS
                }
                self._layout = layout
        return self._layout

    @property
    def layout(self) -> Layout:
        """The partition layout of an open store."""
        if self._layout is None:
            raise RuntimeError("the store is not open yet: await store.open() first")
        return self._layout

    async def aclose(self) -> None:
        """Close the cluster client the store made for itself, if it made one."""
        if self._owned is not None:
            await self._owned.aclose()

    def space(self, ref: Ref) -> str:
        """The partition prefix of an instance's keys (durable.keys takes it as `prefix`)."""
        return self.layout.space_of(ref.workflow, ref.instance_id)

    # -- the boundary --------------------------------------------------------------------------

    def _arguments(
        self,
        name: str,
        ref: Ref | None,
        argv: dict[str, Any],
        answer_key: str = "",
        partition: int = 0,
    ) -> tuple[list[str], list[Any]]:
        """A script's KEYS and ARGV. A script of no instance gets the queue of its partition
        as its one key, which routes it to that partition's node and names the partition."""
        script = SCRIPTS[name]
        if argv.keys() != set(script.argv):
            raise TypeError(f"the {name} script takes {script.argv}, not {tuple(argv)}")
        if ref is None:
            return [keys.queue_key(self.layout.space(partition))], [argv[n] for n in script.argv]
        known = _instance_keys(self.space(ref), ref.workflow, ref.instance_id)
        keys_ = [answer_key if n == "answer_key" else known[n] for n in script.keys]
        if keys_[-1:] == [""]:  # no answer key (the last): every key a script gets is in a slot
            keys_.pop()
        return keys_, [ref.workflow, ref.instance_id, *(argv[n] for n in script.argv)]

    async def _run(
        self, name: str, ref: Ref | None, answer_key: str = "", partition: int = 0, **argv: Any
    ) -> list[Any]:
        if self._layout is None:
            await self.open()
        keys_, args = self._arguments(name, ref, argv, answer_key, partition)
        script = self._scripts[name]
        if self.caller is not None:
            return list(decode(await self.caller(script, keys_, args)))
        return list(decode(await script(keys=keys_, args=args)))

    async def _run_gate(self, name: str, workflow: str, gate: str, **argv: Any) -> list[Any]:
        """A gate's script: its keys are the gate's, in the deployment's prefix."""
        if self._layout is None:
            await self.open()
        script = SCRIPTS[name]
        if argv.keys() != set(script.argv):
            raise TypeError(f"the {name} script takes {script.argv}, not {tuple(argv)}")
        keys_ = keys.gate_keys(self.settings.prefix, workflow, gate)
        args = [argv[n] for n in script.argv]
        return list(decode(await self._scripts[name](keys=keys_, args=args)))

    def _answer_key(self, ref: Ref, op: IdempotentOp, key: str) -> str:
        if not key:
            return ""
        return keys.idempotency_key(self.space(ref), ref.workflow, ref.instance_id, op, key)

    # -- creating and reading ------------------------------------------------------------------

    async def create(
        self,
        ref: Ref,
        *,
        params: str,
        idempotency_key: str = "",
        version: str = "",
        traceparent: str = "",
        parent: str = "",
        awaited: bool = False,
    ) -> Created:
        """`parent`: the step of another instance that starts this one as its child (JSON:
        durable/children.py), `awaited` when that step waits for its outcome."""
        reply = await self._run(
            "create", ref, params=params, idempotency_key=idempotency_key, version=version,
            traceparent=traceparent, parent=parent, awaited="1" if awaited else "",
        )  # fmt: skip
        return replies.create(reply)

    async def create_many(
        self, items: Iterable[tuple[Ref, str]], *, version: str = "", traceparent: str = ""
    ) -> list[Created]:
        """One pipelined create per (ref, params): one round trip for all (on a cluster, one
        per node, in parallel)."""
        await self.open()
        calls: list[cluster.ScriptCall] = []
        for ref, params in items:
            argv = {"params": params, "idempotency_key": "", "version": version}
            argv |= {"traceparent": traceparent, "parent": "", "awaited": ""}
            calls.append((self._scripts["create"], *self._arguments("create", ref, argv)))
        results = await cluster.run_scripts(self.redis, calls)
        return [replies.create(list(decode(result))) for result in results]

    async def run_many(
        self,
        name: str,
        calls: Iterable[tuple[Ref, dict[str, Any]]],
        *,
        answer_op: IdempotentOp | None = None,
        idempotency_key: str = "",
    ) -> list[list[Any]]:
        """One instance script called for many instances in one pipeline (on a cluster, one
        per node, in parallel): the raw replies in order, for durable.replies to decode. With
        `answer_op`, each call remembers its answer to `idempotency_key` (bulk control)."""
        await self.open()
        batch: list[cluster.ScriptCall] = []
        for ref, argv in calls:
            answer = self._answer_key(ref, answer_op, idempotency_key) if answer_op else ""
            batch.append((self._scripts[name], *self._arguments(name, ref, argv, answer)))
        return [list(decode(result)) for result in await cluster.run_scripts(self.redis, batch)]

    async def read(self, ref: Ref) -> Snapshot | NotFound:
        return replies.read(await self._run("read", ref))

    async def remembered(self, ref: Ref, op: IdempotentOp, key: str) -> str | None:
        """The answer a control call made with this Idempotency-Key stored, if any."""
        await self.open()
        raw = await self.redis.get(self._answer_key(ref, op, key))
        return None if raw is None else decode(raw)

    async def due_jobs(self, now_ms: int, limit: int) -> list[str]:
        """Up to `limit` jobs due by `now_ms`, from every partition's queue."""
        layout = await self.open()
        queues = [keys.queue_key(space) for space in layout.spaces()]
        async with self.redis.pipeline(transaction=False) as pipe:
            for queue in queues:
                pipe.zrangebyscore(queue, "-inf", now_ms, start=0, num=limit)
            found = await pipe.execute()
        return [decode(j) for batch in found for j in batch][:limit]

    async def redis_time_ms(self) -> int:
        seconds, micros = await self.redis.time()
        return int(seconds) * 1000 + int(micros) // 1000

    # -- a worker's execution ------------------------------------------------------------------

    async def acquire(
        self, ref: Ref, *, job_id: str, owner: str, ttl_ms: int
    ) -> Acquired | Early | Refused:
        reply = await self._run("acquire", ref, job_id=job_id, owner=owner, ttl_ms=ttl_ms)
        return replies.acquire(reply)

    async def take(
        self,
        *,
        owner: str,
        ttl_ms: int,
        token: str,
        count: int = 1,
        ahead_ms: int = 0,
        partition: int = 0,
    ) -> Taken | ForeignJob | NothingDue:
        """Lease the instances of the queue's next due jobs, up to `count` of them (a durable
        worker's one call to find and start work), doing any housekeeping that came due on the
        way; a job due within `ahead_ms` counts as due (its lease's `due_ms` is then later than
        its `now_ms`). Each partition has its own queue: `partition` names the one to take
        from."""
        reply = await self._run(
            "take", None, partition=partition, owner=owner, ttl_ms=ttl_ms, token=token,
            count=count, ahead_ms=ahead_ms,
        )  # fmt: skip
        return replies.take(reply)

    def take_command(
        self, *, owner: str, ttl_ms: int, token: str, count: int, ahead_ms: int, partition: int
    ) -> tuple[AsyncScript, list[str], list[Any]]:
        """The take script and its KEYS and ARGV, for a caller that sends it itself (a wake
        listener pipelines it behind its block: durable/worker/wake.py); `replies.take` of
        `decode(reply)` reads its reply. The store must be open."""
        keys_, args = self._arguments(
            "take", None, {"owner": owner, "ttl_ms": ttl_ms, "token": token, "count": count,
            "ahead_ms": ahead_ms}, partition=partition,
        )  # fmt: skip
        return self._scripts["take"], keys_, args

    async def renew(self, ref: Ref, *, fence: str, ttl_ms: int) -> Renewed | Fenced:
        return replies.renew(await self._run("renew", ref, fence=fence, ttl_ms=ttl_ms))

    async def save_step(
        self,
        ref: Ref,
        *,
        fence: str,
        run: int,
        key: str,
        record: str,
        mode: Literal["start", "commit"],
        log_lines: str,
        log_count: int,
        max_steps: int,
    ) -> Saved | Exists | Fenced | LimitReached:
        reply = await self._run(
            "save_step", ref, fence=fence, run=run, key=key, record=record, mode=mode,
            log_lines=log_lines, log_count=log_count, max_steps=max_steps,
        )  # fmt: skip
        return replies.save_step(reply)

    async def wait_event(
        self,
        ref: Ref,
        *,
        fence: str,
        run: int,
        key: str,
        event_type: str,
        deadline_ms: int,
        head: str,
        log_lines: str,
        log_count: int,
        max_steps: int,
        timeout_message: str,
    ) -> WaitResolved | Fenced | LimitReached:
        reply = await self._run(
            "wait_event", ref, fence=fence, run=run, key=key, event_type=event_type,
            deadline_ms=deadline_ms, head=head, log_lines=log_lines, log_count=log_count,
            max_steps=max_steps, timeout_message=timeout_message,
        )  # fmt: skip
        return replies.wait_event(reply)

    async def release(
        self,
        ref: Ref,
        *,
        fence: str,
        run: int,
        due_ms: int,
        log_lines: str,
        log_count: int,
        mode: Literal["suspend", "handover", "defer"],
    ) -> Released | Fenced:
        reply = await self._run(
            "release", ref, fence=fence, run=run, due_ms=due_ms, log_lines=log_lines,
            log_count=log_count, mode=mode,
        )  # fmt: skip
        return replies.release(reply)

    async def finish(
        self,
        ref: Ref,
        *,
        fence: str,
        run: int,
        outcome: Literal["complete", "errored"],
        value: str,
        log_lines: str,
        log_count: int,
    ) -> Finished | Fenced:
        """`Finished.outbox`: what the end owes the instance's parent (durable/children.py)."""
        reply = await self._run(
            "finish", ref, fence=fence, run=run, outcome=outcome, value=value,
            log_lines=log_lines, log_count=log_count,
        )  # fmt: skip
        return replies.finish(reply)

    async def reap(self, limit: int = 100, partition: int | None = None) -> Reaped:
        """Recover instances of dead workers and drop expired instances from the indexes, in
        one partition or (None) in each."""
        if partition is not None:
            return replies.reap(await self._run("reap", None, partition=partition, limit=limit))
        layout = await self.open()
        found = await asyncio.gather(*(self.reap(limit, p) for p in range(layout.count)))
        swept = tuple(entry for r in found for entry in r.swept)
        return replies.Reaped(sum(r.recovered for r in found), sum(r.expired for r in found), swept)

    # -- control -------------------------------------------------------------------------------

    async def pause(self, ref: Ref) -> Controlled | NotFound | Terminal:
        return replies.control("pause", await self._run("pause", ref))

    async def resume(self, ref: Ref) -> Controlled | NotFound | Terminal:
        return replies.control("resume", await self._run("resume", ref))

    async def terminate(
        self, ref: Ref, *, token: str, idempotency_key: str = "", answer_ttl_ms: int
    ) -> Controlled | NotFound | Terminal:
        answer_key = self._answer_key(ref, "terminate", idempotency_key)
        reply = await self._run(
            "terminate", ref, answer_key, token=token, answer_ttl_ms=answer_ttl_ms
        )
        return replies.control("terminate", reply)

    async def restart(
        self, ref: Ref, *, token: str, idempotency_key: str = "", answer_ttl_ms: int
    ) -> Restarted | NotFound:
        answer_key = self._answer_key(ref, "restart", idempotency_key)
        reply = await self._run(
            "restart", ref, answer_key, token=token, answer_ttl_ms=answer_ttl_ms
        )
        return replies.restart(reply)

    async def retry_step(
        self,
        ref: Ref,
        *,
        key: str,
        expected: str,
        head: str,
        delay_ms: int,
        answer: str,
        idempotency_key: str = "",
        answer_ttl_ms: int,
    ) -> Reopened | Recalled | NotFound | NotErrored | Conflict:
        answer_key = self._answer_key(ref, "retry-step", idempotency_key)
        reply = await self._run(
            "retry_step", ref, answer_key, key=key, expected=expected, head=head,
            delay_ms=delay_ms, answer_ttl_ms=answer_ttl_ms, answer=answer,
        )  # fmt: skip
        return replies.retry_step(reply)

    async def send_event(
        self, ref: Ref, *, head: str, payload: str, event_id: str, traceparent: str = ""
    ) -> EventStored | NotFound | Terminal:
        reply = await self._run(
            "send_event", ref, head=head, payload=payload, event_id=event_id,
            traceparent=traceparent,
        )  # fmt: skip
        return replies.send_event(reply)

    # -- gates of workflows with limits (durable/gate.py) ----------------------------------------

    async def gate_enter(
        self,
        workflow: str,
        gate: str,
        *,
        instance_id: str,
        run: int,
        created_ms: int,
        key_value: str,
        concurrency_limit: int,
        rate_limit: int,
        period_ms: int,
    ) -> GateState:
        reply = await self._run_gate(
            "gate_enter", workflow, gate, iid=instance_id, run=run, created_ms=created_ms,
            concurrency_limit=concurrency_limit, rate_limit=rate_limit, period_ms=period_ms,
            key_value=key_value,
        )  # fmt: skip
        return replies.gate(reply)

    async def gate_leave(
        self, workflow: str, gate: str, *, instance_id: str = "", below: int = 0
    ) -> GateState:
        """The runs of an instance below `below` leave the gate; then (or with no instance,
        only) the gate grants what its limits allow."""
        reply = await self._run_gate("gate_leave", workflow, gate, iid=instance_id, below=below)
        return replies.gate(reply)

    async def gate_grant(
        self, ref: Ref, *, fence: str, run: int, key_value: str
    ) -> GateMarked | Fenced:
        reply = await self._run("gate_grant", ref, fence=fence, run=run, key_value=key_value)
        return replies.gate_grant(reply)

    async def gate_wait(
        self, ref: Ref, *, fence: str, run: int, key_value: str, note: str, due_ms: int
    ) -> GateHeld | Fenced:
        reply = await self._run(
            "gate_wait", ref, fence=fence, run=run, key_value=key_value, note=note, due_ms=due_ms
        )
        return replies.gate_wait(reply)

    async def gate_wake(self, ref: Ref, *, run: int, due_ms: int = 0) -> GateWoken:
        return replies.gate_wake(await self._run("gate_wake", ref, run=run, due_ms=due_ms))

    async def gate_wake_many(self, calls: Iterable[tuple[Ref, int]]) -> list[GateWoken]:
        """gate_wake of many instances (now, when they have no job) in one pipeline: the
        sweep's check of a gate's holders."""
        raws = await self.run_many(
            "gate_wake", [(ref, {"run": run, "due_ms": -1}) for ref, run in calls]
        )
        return [replies.gate_wake(raw) for raw in raws]

    async def gate_holders(self, workflow: str, gate: str) -> dict[str, int]:
        """A gate's holders: instance id -> run granted."""
        await self.open()
        key = keys.gate_key(self.settings.prefix, workflow, gate, "holders")
        found = await self.redis.hgetall(key)  # type: ignore[misc]
        return {decode(iid): int(run) for iid, run in found.items()}

    async def note_gate(self, workflow: str, gate: str, now_ms: int) -> None:
        """List a gate among its workflow's (the sweep's list), as used at `now_ms`."""
        await self.open()
        await self.redis.zadd(keys.gates_key(self.settings.prefix, workflow), {gate: now_ms})

    async def gates(self, workflow: str) -> dict[str, int]:
        """The gates of a workflow with when each was last used (ms)."""
        await self.open()
        found = await self.redis.zrange(
            keys.gates_key(self.settings.prefix, workflow), 0, -1, withscores=True
        )
        return {decode(gate): int(score) for gate, score in found}

    async def forget_gate(self, workflow: str, gate: str) -> None:
        await self.open()
        await self.redis.zrem(keys.gates_key(self.settings.prefix, workflow), gate)

    async def gate_of(self, ref: Ref) -> tuple[str | None, str | None, int]:
        """The gate key value an instance was held or granted at (None: none), its status
        (None: gone) and its run."""
        await self.open()
        key = keys.instance_key(self.space(ref), ref.workflow, ref.instance_id)
        gate, status, run = await self.redis.hmget(key, ["gate", "status", "run"])  # type: ignore[misc]
        return (
            None if gate is None else decode(gate),
            None if status is None else decode(status),
            int(run or 0),
        )

    # -- child workflows (durable/children.py) ---------------------------------------------------

    async def invoke(
        self,
        ref: Ref,
        *,
        fence: str,
        run: int,
        key: str,
        head: str,
        child: str,
        attach: bool,
        mode: Literal["wait", "start"],
        result: str,
        deadline_ms: int,
        log_lines: str,
        log_count: int,
        max_steps: int,
        timeout_tail: str,
    ) -> Invoked | Fenced | LimitReached:
        reply = await self._run(
            "invoke", ref, fence=fence, run=run, key=key, head=head, child=child,
            attach="1" if attach else "0", mode=mode, result=result, deadline_ms=deadline_ms,
            log_lines=log_lines, log_count=log_count, max_steps=max_steps,
            timeout_tail=timeout_tail,
        )  # fmt: skip
        return replies.invoke(reply)

    async def child_done(
        self,
        parent: Ref,
        *,
        run: int,
        key: str,
        child: str,
        outcome: Literal["completed", "errored"],
        tail: str,
    ) -> bool:
        """Leave a child's outcome with its parent's waiting step and wake the parent; False
        when the parent no longer waits for it (the entry is then dropped)."""
        reply = await self._run(
            "child_done", parent, run=run, key=key, child=child, outcome=outcome, tail=tail
        )
        return replies.child_done(reply)

    async def clear_outbox(self, home: Ref, entry: str) -> None:
        """Remove an outbox entry carried over; `home` is the instance whose partition holds it."""
        await self.open()
        await self.redis.zrem(keys.outbox_key(self.space(home)), entry)
