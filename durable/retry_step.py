"""Retrying a failed step from the control plane: what the retry_step script compares and
writes (`plan`), and the public answer built from what it remembers (`accepted`).

The record surgery itself (which step failed, how it re-opens) is durable.records'.
"""

from __future__ import annotations

from dataclasses import dataclass

from durable import records
from durable.errors import FailedStepNotRetryableError, InstanceNotErroredError
from durable.models import Details, InstanceSummary, RetryAccepted, RetryInfo
from durable.records import InstanceRecord
from durable.store import Ref
from durable.types import JSONDict, Status


@dataclass(frozen=True)
class RetryPlan:
    """What the retry_step script compares and writes: the step key ('' for a replay), the
    record or error it expects, the re-opened record's head, and the answer it remembers (r run,
    k step key, a attempts, m max attempts; or rp replay and s status)."""

    step_key: str
    expected: str
    head: str
    answer: JSONDict

    @property
    def answer_head(self) -> str:
        """The answer as the script takes it: JSON without its closing brace ("at" follows)."""
        return records.dumps(self.answer)[:-1]


def plan(ref: Ref, inst: InstanceRecord, raw: str, delay_ms: int) -> RetryPlan:
    run = inst.run
    if records.failed_on_nondeterminism(inst):  # fixed code replays the run's recorded steps
        status = "waiting" if delay_ms else "queued"
        return RetryPlan("", inst.error_json or "", "", {"r": run, "rp": 1, "s": status})
    if inst.status != Status.ERRORED:
        raise InstanceNotErroredError(ref.instance_id, inst.status)
    failed = records.failed_do_step(inst, raw)
    if failed is None or inst.current_step is None:
        raise FailedStepNotRetryableError(
            "the instance did not fail in a step.do step, so there is no step to retry; "
            "restart the instance instead"
        )
    reopened = failed.reopened()
    key = inst.current_step
    answer = {"r": run, "k": key, "a": reopened.attempt, "m": reopened.max_attempts}
    return RetryPlan(key, raw, reopened.retry_head(), answer)


def accepted(ref: Ref, answer: JSONDict) -> RetryAccepted:
    """The retry-failed-step answer from what the script remembered (see RetryPlan; "at" is the
    scheduled ms)."""
    replay = bool(answer.get("rp"))
    steps = {} if replay else {"step_key": answer["k"], "attempts": answer["a"]}
    if not replay:
        steps["max_attempts"] = answer["m"]
    retry = RetryInfo.model_validate(
        {**steps, "scheduled_at": records.iso(answer["at"]), "replay": replay}
    )
    details = Details.model_validate(
        {"status": answer.get("s", "waiting"), "runNumber": answer["r"]}
    )
    return RetryAccepted(
        accepted=True, instance=InstanceSummary(id=ref.instance_id, details=details), retry=retry
    )
