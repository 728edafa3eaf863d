"""The Redis key schema, on one screen. No other module spells a key, Lua scripts included.

P is the deployment's prefix (DURABLE_PREFIX); wf/id is an instance's member (`tag`).
Partitions (durable/partitions.py): with one partition, the default on one Redis, every key is
spelled as below. With several, each partition's keys are spelled the same with P standing for
`P:{<partition tag>}` (`partition_prefix`): that first hash tag decides the cluster slot, so
each script touches one slot. Every function below takes that partition prefix as `prefix`,
but the deployment's own keys, which take P itself:
  P:meta                    hash    the partition layout: partitions, tags (and repartition_to
                                    while `durable admin repartition` runs)
  P:workers                 zset    live workers by heartbeat expiry ms (who serves which
                                    partition)
Per instance (with one partition, the hash tag `{wf/id}` keeps its keys in one cluster slot):
  P:{wf/id}:i               hash    the instance record (status, run, lease, fence, output, ...)
  P:{wf/id}:s:<run>         hash    step key -> step record (JSON)
  P:{wf/id}:e:<run>         hash    event seq -> event record (JSON); seq is arrival order
  P:{wf/id}:l:<run>         list    log records (JSON)
  P:{wf/id}:eid             hash    client event id -> "run:seq" (dedupe across runs)
  P:{wf/id}:c               set     the instance's active child instances ("wf/id"; not the
                                    detached), which terminating or restarting it terminates
  P:{wf/id}:k:<op>:<key>    string  the first answer of a control call made with an
                                    Idempotency-Key (op restart|terminate|retry-step; one day)
Per workflow:
  P:w:<wf>:all              zset    instance id scored by creation ms (listing, newest first)
  P:w:<wf>:st:<status>      zset    the same, one per status
  P:w:<wf>/<ver>:all        zset    the same two, for the instances created by one code
  P:w:<wf>/<ver>:st:<status>        version of the workflow (`?version=` in listings)
  P:w:<wf>:ver              hash    instance id -> version (so the reaper can clean those)
  P:w:<wf>#bulk:<action>:<key>
                            string  the answer of a bulk action (terminate|restart|retry-step)
                                    made with an Idempotency-Key (one day; deployment's P)
  P:w:<wf>#gates            zset    the gates of a workflow with limits by last use ms (the
                                    sweep's list; deployment's P)
Per gate of a workflow with limits (durable/gate.py; g: a digest of the limit key's value; the
hash tag `{wf/#g}` keeps a gate in one slot, apart from its instances; deployment's P):
  P:{wf/#g}:g:h             hash    holders: instance id -> run granted (concurrency)
  P:{wf/#g}:g:q             zset    waiting instance ids by creation ms (FIFO; ties by id)
  P:{wf/#g}:g:r             hash    waiting instance id -> run
  P:{wf/#g}:g:s             zset    starts "id:run" by grant ms (the rate window)
  P:{wf/#g}:g:c             hash    the limits and key value the last worker entering gave
Per partition (the deployment's, with one partition):
  P:leases                  zset    member scored by lease expiry ms (crash recovery)
  P:expiry                  zset    member scored by retention deadline (index clean-up)
  P:queue                   zset    the arq queue: job ids ("P:job:wf/id:<n>") by due ms
  P:queue:health-check      string  arq's worker health line
  P:wake                    zset    the wake marker: job ids due now (or a new queue head) that
                                    idle workers block on (BZPOPMIN; docs/architecture.md)
  P:took:<owner>            string  a worker's last take (token, job, instance), so a take
                                    retried after a lost reply answers the same lease
  P:outbox                  zset    entries (JSON) to carry to another partition, by when a
                                    take hands them out again: a child's outcome for its parent,
                                    a child to terminate (durable/children.py)
arq's own, per job id:
  arq:job:<job id>          string  the arq job (JSON), written by the scripts in arq's format
  arq:in-progress:<job id>  string  a plain arq worker's claim (a durable worker takes a job
                                    with its lease instead; worker/claim.py)
  arq:retry:<job id>        string  arq's try counter

Scripts get per-instance keys as KEYS (durable/store.py) and everything else from
`lua_bindings`, bound when they are registered (status_index_key(wf, status), ...).
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass

from arq.constants import (
    health_check_key_suffix,
    in_progress_key_prefix,
    job_key_prefix,
    retry_key_prefix,
)

ADVANCE_FUNCTION = "durable_advance"
TAG_SEPARATOR = "/"


def tag(workflow: str, instance_id: str) -> str:
    """An instance's member in the lease and expiry sets, and its hash tag."""
    return f"{workflow}{TAG_SEPARATOR}{instance_id}"


def split_tag(member: str) -> tuple[str, str]:
    workflow, _, instance_id = member.partition(TAG_SEPARATOR)
    return workflow, instance_id


# -- partitions and the deployment ---------------------------------------------------------------


def partition_prefix(prefix: str, partition_tag: str) -> str:
    """The prefix of one partition's keys: the deployment's prefix followed by the partition's
    hash tag, or the prefix alone for the one-partition layout (tag "")."""
    return f"{prefix}:{{{partition_tag}}}" if partition_tag else prefix


def partition_tag_of(prefix: str, key: str) -> str:
    """The partition tag a key of this deployment carries ("" in the one-partition layout,
    whose instance keys open with `{wf/id}`: a partition tag never holds a '/'); arq's keys
    by their job id."""
    for arq_prefix in (job_key_prefix, in_progress_key_prefix, retry_key_prefix):
        if key.startswith(arq_prefix):
            key = key[len(arq_prefix) :]
            break
    head = f"{prefix}:{{"
    end = key.find("}", len(head)) if key.startswith(head) else -1
    found = key[len(head) : end] if end > 0 else ""
    return "" if TAG_SEPARATOR in found else found


def meta_key(prefix: str) -> str:
    return f"{prefix}:meta"


def workers_key(prefix: str) -> str:
    return f"{prefix}:workers"


# -- per instance ------------------------------------------------------------------------------


def _instance_base(prefix: str, workflow: str, instance_id: str) -> str:
    return f"{prefix}:{{{tag(workflow, instance_id)}}}"


def instance_key(prefix: str, workflow: str, instance_id: str) -> str:
    return _instance_base(prefix, workflow, instance_id) + ":i"


def steps_stem(prefix: str, workflow: str, instance_id: str) -> str:
    """Scripts append the run number to this stem (and the two stems below)."""
    return _instance_base(prefix, workflow, instance_id) + ":s:"


def events_stem(prefix: str, workflow: str, instance_id: str) -> str:
    return _instance_base(prefix, workflow, instance_id) + ":e:"


def logs_stem(prefix: str, workflow: str, instance_id: str) -> str:
    return _instance_base(prefix, workflow, instance_id) + ":l:"


def steps_key(prefix: str, workflow: str, instance_id: str, run: int) -> str:
    return f"{steps_stem(prefix, workflow, instance_id)}{run}"


def events_key(prefix: str, workflow: str, instance_id: str, run: int) -> str:
    return f"{events_stem(prefix, workflow, instance_id)}{run}"


def logs_key(prefix: str, workflow: str, instance_id: str, run: int) -> str:
    return f"{logs_stem(prefix, workflow, instance_id)}{run}"


def event_ids_key(prefix: str, workflow: str, instance_id: str) -> str:
    return _instance_base(prefix, workflow, instance_id) + ":eid"


def children_key(prefix: str, workflow: str, instance_id: str) -> str:
    return _instance_base(prefix, workflow, instance_id) + ":c"


def idempotency_key(prefix: str, workflow: str, instance_id: str, op: str, key: str) -> str:
    return f"{_instance_base(prefix, workflow, instance_id)}:k:{op}:{key}"


# -- per workflow ------------------------------------------------------------------------------


def _workflow_base(prefix: str, workflow: str, version: str | None) -> str:
    # '/' appears in neither a workflow name nor a version, so no workflow's keys can spell
    # another's version keys (a workflow may be named "a:v:1")
    return f"{prefix}:w:{workflow}:" if version is None else f"{prefix}:w:{workflow}/{version}:"


def workflow_index_key(prefix: str, workflow: str, version: str | None = None) -> str:
    """All instances of a workflow, or those created by one code version of it."""
    return _workflow_base(prefix, workflow, version) + "all"


def status_index_key(prefix: str, workflow: str, status: str, version: str | None = None) -> str:
    return f"{_workflow_base(prefix, workflow, version)}st:{status}"


def versions_key(prefix: str, workflow: str) -> str:
    return f"{prefix}:w:{workflow}:ver"


def bulk_answer_key(prefix: str, workflow: str, action: str, key: str) -> str:
    """The answer of a bulk action made with an Idempotency-Key ('#' is in no workflow name,
    so this spells no other workflow's keys)."""
    return f"{prefix}:w:{workflow}#bulk:{action}:{key}"


# -- gates of workflows with limits -------------------------------------------------------------

GATE_KEYS = ("holders", "waiting", "waiting_runs", "starts", "config")
_GATE_SUFFIXES = dict(zip(GATE_KEYS, ("h", "q", "r", "s", "c"), strict=True))


def gate_key(prefix: str, workflow: str, gate: str, part: str) -> str:
    """One of a gate's keys (`part` in GATE_KEYS). No instance id holds '#', so a gate's
    hash tag is never an instance's."""
    return f"{prefix}:{{{workflow}{TAG_SEPARATOR}#{gate}}}:g:{_GATE_SUFFIXES[part]}"


def gate_keys(prefix: str, workflow: str, gate: str) -> list[str]:
    """A gate's keys in the order its scripts take them (GATE_KEYS)."""
    return [gate_key(prefix, workflow, gate, part) for part in GATE_KEYS]


def gates_key(prefix: str, workflow: str) -> str:
    """The gates of a workflow, for the sweep ('#' is in no workflow name)."""
    return f"{prefix}:w:{workflow}#gates"


# -- global, and arq's ---------------------------------------------------------------------------


def leases_key(prefix: str) -> str:
    return f"{prefix}:leases"


def expiry_key(prefix: str) -> str:
    return f"{prefix}:expiry"


def queue_key(prefix: str) -> str:
    return f"{prefix}:queue"


def health_check_key(prefix: str) -> str:
    return queue_key(prefix) + health_check_key_suffix


def wake_key(prefix: str) -> str:
    """The sorted set idle workers block on: a member per job that came due (or became the
    queue's head), popped to wake one worker."""
    return f"{prefix}:wake"


def take_receipt_key(prefix: str, owner: str) -> str:
    """What a worker's last take leased, for a retry of the same call."""
    return f"{prefix}:took:{owner}"


def outbox_key(prefix: str) -> str:
    """Entries one partition's scripts wrote for another partition (durable/children.py)."""
    return f"{prefix}:outbox"


def job_id(prefix: str, workflow: str, instance_id: str, n: int | str) -> str:
    """The n-th arq job of an instance; arq dedupes jobs by id."""
    return f"{prefix}:job:{tag(workflow, instance_id)}:{n}"


def parse_job_id(prefix: str, value: str) -> tuple[str, str] | None:
    """Inverse of job_id, whichever partition's: (workflow, instance id), or None for another
    deployment's job. `prefix` is the deployment's."""
    partition = partition_prefix(prefix, partition_tag_of(prefix, value))
    if not value.startswith(partition):
        return None
    match = _job_id_pattern(prefix).fullmatch(prefix + value[len(partition) :])
    if match is None:
        return None
    workflow, instance_id = split_tag(f"{match[1]}{TAG_SEPARATOR}{match[2]}")
    return (workflow, instance_id) if workflow and instance_id else None


@functools.lru_cache(maxsize=16)
def _job_id_pattern(prefix: str) -> re.Pattern[str]:
    return _pattern(lambda wf, iid, n: job_id(prefix, wf, iid, n))


def arq_job_key(job: str) -> str:
    return job_key_prefix + job


def arq_in_progress_key(job: str) -> str:
    return in_progress_key_prefix + job


def arq_retry_key(job: str) -> str:
    return retry_key_prefix + job


# -- for the Lua scripts and for tests -----------------------------------------------------------


@dataclass(frozen=True)
class Template:
    """A parametrised key as text around its parameters: pieces[0] + params[0] + pieces[1] ..."""

    params: tuple[str, ...]
    pieces: tuple[str, ...]


def template(build: Callable[..., str]) -> Template:
    return Template(tuple(inspect.signature(build).parameters), pieces(build))


def lua_bindings(prefix: str) -> dict[str, str | Template]:
    """The schema as the Lua scripts see it, by the names they use: durable/store.py binds each
    fixed key to a local and each template to a local function of its parameters. Per-instance
    keys come as KEYS instead; the reaper and the take script, which find their instances in
    the lease, expiry and queue sets, build them with instance_key and instance_steps_stem."""
    p = prefix
    templates: dict[str, Callable[..., str]] = {
        "instance_key": lambda wf, iid: instance_key(p, wf, iid),
        "instance_steps_stem": lambda wf, iid: steps_stem(p, wf, iid),
        "take_receipt_key": lambda owner: take_receipt_key(p, owner),
        "workflow_index_key": lambda wf: workflow_index_key(p, wf),
        "status_index_key": lambda wf, status: status_index_key(p, wf, status),
        "version_index_key": lambda wf, version: workflow_index_key(p, wf, version),
        "version_status_index_key": lambda wf, version, status: status_index_key(
            p, wf, status, version
        ),
        "versions_key": lambda wf: versions_key(p, wf),
        "instance_job_id": lambda wf, iid, n: job_id(p, wf, iid, n),
        "arq_job_key": lambda job: arq_job_key(job),
        "arq_in_progress_key": lambda job: arq_in_progress_key(job),
        "arq_retry_key": lambda job: arq_retry_key(job),
    }
    fixed: dict[str, str | Template] = {
        "queue_key": queue_key(p),
        "leases_key": leases_key(p),
        "expiry_key": expiry_key(p),
        "wake_key": wake_key(p),
        "outbox_key": outbox_key(p),
        "member_separator": TAG_SEPARATOR,
    }
    return fixed | {name: template(build) for name, build in templates.items()}


def describe(prefix: str, key: str) -> str | None:
    """The kind of a key of this deployment ('instance', 'steps', 'arq_job', ...), or None."""
    for kind, build in kinds(prefix).items():
        if _pattern(build).fullmatch(key):
            return kind
    return None


def parse(prefix: str, key: str) -> tuple[str, str, tuple[str, ...]] | None:
    """A key of the deployment whose prefix is `prefix`, whichever partition it is in: (its
    partition prefix, its kind, its parameters as text), or None."""
    space = partition_prefix(prefix, partition_tag_of(prefix, key))
    for kind, pattern in _kind_patterns(space):
        match = pattern.fullmatch(key)
        if match:
            return space, kind, match.groups()
    return None


@functools.lru_cache(maxsize=1100)
def _kind_patterns(prefix: str) -> tuple[tuple[str, re.Pattern[str]], ...]:
    return tuple((kind, _pattern(build)) for kind, build in kinds(prefix).items())


def kinds(prefix: str) -> dict[str, Callable[..., str]]:
    """Every kind of key as a function of its parameters (the more specific first)."""
    p = prefix
    return {
        "instance": lambda wf, iid: instance_key(p, wf, iid),
        "steps": lambda wf, iid, run: steps_key(p, wf, iid, run),
        "events": lambda wf, iid, run: events_key(p, wf, iid, run),
        "logs": lambda wf, iid, run: logs_key(p, wf, iid, run),
        "event_ids": lambda wf, iid: event_ids_key(p, wf, iid),
        "children": lambda wf, iid: children_key(p, wf, iid),
        "idempotency": lambda wf, iid, op, key: idempotency_key(p, wf, iid, op, key),
        "bulk_answer": lambda wf, action, key: bulk_answer_key(p, wf, action, key),
        "gates": lambda wf: gates_key(p, wf),
        **{f"gate_{part}": functools.partial(_gate_kind, p, part) for part in GATE_KEYS},
        "version_index": lambda wf, version: workflow_index_key(p, wf, version),
        "version_status_index": lambda wf, version, status: status_index_key(
            p, wf, status, version
        ),
        "workflow_index": lambda wf: workflow_index_key(p, wf),
        "status_index": lambda wf, status: status_index_key(p, wf, status),
        "versions": lambda wf: versions_key(p, wf),
        "leases": lambda: leases_key(p),
        "expiry": lambda: expiry_key(p),
        "queue": lambda: queue_key(p),
        "health_check": lambda: health_check_key(p),
        "meta": lambda: meta_key(p),
        "workers": lambda: workers_key(p),
        "wake": lambda: wake_key(p),
        "outbox": lambda: outbox_key(p),
        "take_receipt": lambda owner: take_receipt_key(p, owner),
        "arq_job": lambda wf, iid, n: arq_job_key(job_id(p, wf, iid, n)),
        "arq_in_progress": lambda wf, iid, n: arq_in_progress_key(job_id(p, wf, iid, n)),
        "arq_retry": lambda wf, iid, n: arq_retry_key(job_id(p, wf, iid, n)),
    }


def _gate_kind(prefix: str, part: str, wf: str, gate: str) -> str:
    return gate_key(prefix, wf, gate, part)


def pieces(build: Callable[..., str]) -> tuple[str, ...]:
    """The text around each parameter of a key function, found by calling it with markers."""
    names = list(inspect.signature(build).parameters)
    markers = [f"\x00{i}\x00" for i in range(len(names))]
    rest, out = build(*markers), []
    for marker in markers:
        before, found, rest = rest.partition(marker)
        if not found:
            raise ValueError(f"a key function uses its parameters out of order: {names}")
        out.append(before)
    return (*out, rest)


_NUMERIC = frozenset({"run", "n"})


def _pattern(build: Callable[..., str]) -> re.Pattern[str]:
    """A regular expression for the keys `build` makes; numeric parameters match digits only."""
    holes = [r"(\d+)" if n in _NUMERIC else "(.+?)" for n in inspect.signature(build).parameters]
    parts = [re.escape(part) for part in pieces(build)]
    tail = "".join(hole + part for hole, part in zip(holes, parts[1:], strict=True))
    return re.compile(parts[0] + tail)
