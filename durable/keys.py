"""The Redis key schema, on one screen. No other module builds key strings.

Per instance (hash tag `{wf/id}` keeps an instance's keys in one cluster slot):
  P:{wf/id}:i           hash   the instance record (status, run, lease, fence, output, ...)
  P:{wf/id}:s:<run>     hash   step key -> step record (JSON)
  P:{wf/id}:e:<run>     hash   event seq -> event record (JSON); seq is arrival order
  P:{wf/id}:l:<run>     list   log records (JSON)
  P:{wf/id}:eid         hash   client event id -> "run:seq" (dedupe across runs)
  P:{wf/id}:k:<op>:<key> string the first answer of a control call made with an Idempotency-Key
                               (op restart|terminate|retry-step; expires after a day)
Per workflow:
  P:w:<wf>:all          zset   instance id scored by creation ms (listing, newest first)
  P:w:<wf>:st:<status>  zset   instance id scored by creation ms, one per status
  P:w:<wf>:v:<ver>:all  zset   the same two indexes for the instances created by one code
  P:w:<wf>:v:<ver>:st:<status>  version of the workflow (`?version=` in listings)
  P:w:<wf>:ver          hash   instance id -> version (so the reaper can clean those indexes)
Global:
  P:leases              zset   "wf/id" scored by lease expiry ms (crash recovery)
  P:expiry              zset   "wf/id" scored by retention deadline (index clean-up)
  P:queue               zset   the arq queue; arq job ids are "P:job:wf/id:<n>"
  arq:job:<job id>      string the arq job (JSON), written in arq's own format
"""

from __future__ import annotations

ARQ_JOB_PREFIX = "arq:job:"
ARQ_IN_PROGRESS_PREFIX = "arq:in-progress:"
ARQ_RETRY_PREFIX = "arq:retry:"
ADVANCE_FUNCTION = "durable_advance"


def tag(workflow: str, instance_id: str) -> str:
    return f"{workflow}/{instance_id}"


def instance_base(prefix: str, workflow: str, instance_id: str) -> str:
    """Common stem of every per-instance key; Lua scripts append ':i', ':s:<run>', ..."""
    return f"{prefix}:{{{tag(workflow, instance_id)}}}"


def instance_key(prefix: str, workflow: str, instance_id: str) -> str:
    return instance_base(prefix, workflow, instance_id) + ":i"


def steps_key(prefix: str, workflow: str, instance_id: str, run: int) -> str:
    return f"{instance_base(prefix, workflow, instance_id)}:s:{run}"


def events_key(prefix: str, workflow: str, instance_id: str, run: int) -> str:
    return f"{instance_base(prefix, workflow, instance_id)}:e:{run}"


def logs_key(prefix: str, workflow: str, instance_id: str, run: int) -> str:
    return f"{instance_base(prefix, workflow, instance_id)}:l:{run}"


def event_ids_key(prefix: str, workflow: str, instance_id: str) -> str:
    return instance_base(prefix, workflow, instance_id) + ":eid"


def idempotency_key(prefix: str, workflow: str, instance_id: str, op: str, key: str) -> str:
    """Scripts build the same name (_lib.lua idem_key); the client reads it before a retry."""
    return f"{instance_base(prefix, workflow, instance_id)}:k:{op}:{key}"


def workflow_index_key(prefix: str, workflow: str, version: str | None = None) -> str:
    """All instances of a workflow, or those created by one code version of it."""
    return f"{version_stem(prefix, workflow, version)}all"


def status_index_key(prefix: str, workflow: str, status: str, version: str | None = None) -> str:
    return f"{version_stem(prefix, workflow, version)}st:{status}"


def version_stem(prefix: str, workflow: str, version: str | None) -> str:
    """Scripts build the per-version stem the same way (_lib.lua version_stem)."""
    return f"{prefix}:w:{workflow}:" if version is None else f"{prefix}:w:{workflow}:v:{version}:"


def versions_key(prefix: str, workflow: str) -> str:
    return f"{prefix}:w:{workflow}:ver"


def status_index_stem(prefix: str, workflow: str) -> str:
    """Scripts append the status name to this stem."""
    return f"{prefix}:w:{workflow}:st:"


def leases_key(prefix: str) -> str:
    return f"{prefix}:leases"


def expiry_key(prefix: str) -> str:
    return f"{prefix}:expiry"


def queue_key(prefix: str) -> str:
    return f"{prefix}:queue"


def job_id_stem(prefix: str, workflow: str, instance_id: str) -> str:
    """Scripts append a per-instance counter; arq dedupes jobs by id."""
    return f"{prefix}:job:{tag(workflow, instance_id)}:"


def split_tag(member: str) -> tuple[str, str]:
    workflow, _, instance_id = member.partition("/")
    return workflow, instance_id
