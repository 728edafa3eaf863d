"""`step.invoke` and `step.start`: child workflows, started exactly once however often the
parent replays (durable/children.py carries outcomes and terminations between partitions).

A new invoke step first creates the child with the create script (idempotent by id; the child
records its parent: workflow, id, run and step key), then records the parent's step with the
invoke script. A crash between the two replays into the create again, which finds the child
there with this step as its parent: the child is started once.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Literal

from pydantic import ValidationError as PydanticValidationError

from durable import children, observe
from durable.durations import Duration, to_ms
from durable.errors import ChildWorkflowError, InvalidStepError
from durable.names import ID_MAX, WORKFLOW_NAME_MAX, valid_name
from durable.recorder import Recorder
from durable.records import ChildRef, InstanceRecord, ParentRef, StepError, StepRecord, dumps
from durable.replies import Fenced, Invoked, LimitReached, Tag
from durable.store import Ref
from durable.types import StepStatus, StepType
from durable.waits import MAX_WAIT_MS
from durable.workflow import Workflow

ChildWorkflow = str | Workflow


class Invokes(Recorder):
    async def invoke(
        self,
        name: str,
        *,
        workflow: ChildWorkflow,
        params: Any,
        instance_id: str | None,
        timeout: Duration | None,
        detached: bool,
    ) -> Any:
        timeout_ms = _timeout_ms(timeout)
        key = await self.claim(name, StepType.INVOKE)
        rec = self.new_record(key, name, StepType.INVOKE)
        if rec.status in (StepStatus.COMPLETED, StepStatus.ERRORED):
            return _outcome(rec)
        if key not in self.recorded:
            child = await self._create(key, workflow, params, instance_id, detached, awaited=True)
            deadline = self.now() + timeout_ms if timeout_ms else None
            rec = replace(rec, child=child, wake_at_ms=deadline, attempt=0, max_attempts=1)
        resolved = await self._record_invoke(key, rec, "wait")
        if resolved.outcome == Tag.WAIT:
            self.suspend(rec.wake_at_ms or self.now() + MAX_WAIT_MS)
        if resolved.outbox:  # timed out: the child is terminated
            await children.carry(self.store, [resolved.outbox])
        done = self.recorded[key]
        observe.get().step(self.ref.workflow, StepType.INVOKE, _observed(done))
        if done.status == StepStatus.COMPLETED:
            self.boundary()
        return _outcome(done)

    async def start(
        self,
        name: str,
        *,
        workflow: ChildWorkflow,
        params: Any,
        instance_id: str | None,
        detached: bool,
    ) -> str:
        key = await self.claim(name, StepType.INVOKE)
        rec = self.new_record(key, name, StepType.INVOKE)
        if rec.status != StepStatus.COMPLETED:
            child = await self._create(key, workflow, params, instance_id, detached, awaited=False)
            rec = replace(rec, child=child, attempt=0, max_attempts=1)
            await self._record_invoke(key, rec, "start", dumps(child.instance_id))
            observe.get().step(self.ref.workflow, StepType.INVOKE, "completed")
            self.boundary()
        return str(self.recorded[key].result)

    async def _create(
        self,
        key: str,
        workflow: ChildWorkflow,
        params: Any,
        instance_id: str | None,
        detached: bool,
        *,
        awaited: bool,
    ) -> ChildRef:
        """Create the child, or find it created by an earlier pass of this step."""
        name, version, body = self._child_input(workflow, params)
        child_id = instance_id
        if child_id is None:
            child_id = children.default_child_id(self.ref, self.run, key)
        elif not valid_name(child_id, ID_MAX):
            raise InvalidStepError(f"invalid child instance id {child_id!r}")
        parent = ParentRef(self.ref.workflow, self.ref.instance_id, self.run, key)
        created = await self.store.create(
            Ref(name, child_id), params=body, version=version, parent=parent.encode(),
            awaited=awaited,
        )  # fmt: skip
        if not created.created and InstanceRecord.decode(created.instance).parent != parent:
            raise InvalidStepError(
                f"instance {name}/{child_id} exists already and is not the child of step "
                f"{key!r} of this run: give step.{'invoke' if awaited else 'start'} a new id"
            )
        return ChildRef(name, child_id, detached=detached, awaited=awaited)

    def _child_input(self, workflow: ChildWorkflow, params: Any) -> tuple[str, str, str]:
        """The child's workflow name, code version ('' for none) and params as stored."""
        version, name = "", workflow
        if isinstance(workflow, Workflow):
            if workflow.params is not None:
                try:
                    params = workflow.params.model_validate(params).model_dump(mode="json")
                except PydanticValidationError as exc:
                    raise InvalidStepError(f"invalid params for {workflow.name}: {exc}") from exc
            name, version = workflow.name, workflow.version or ""
        if not isinstance(name, str) or not valid_name(name, WORKFLOW_NAME_MAX):
            raise InvalidStepError(f"invalid child workflow name {name!r}")
        try:
            body = dumps({} if params is None else params)
        except (TypeError, ValueError) as exc:
            raise InvalidStepError(f"child params are not JSON: {exc}") from exc
        if len(body.encode()) > self.settings.max_payload_bytes:
            raise InvalidStepError("child params exceed the payload size limit")
        return name, version, body

    async def _record_invoke(
        self, key: str, rec: StepRecord, mode: Literal["wait", "start"], result: str = ""
    ) -> Invoked:
        """One script records the step: started, resolved with the child's outcome, timed out
        or waiting."""
        child = rec.child or ChildRef("", "")
        lines, count = self.logs.take()
        resolved = await self.store.invoke(
            self.ref, fence=self.fence, run=self.run, key=key, head=rec.wait_head(),
            child=child.member, attach=not child.detached, mode=mode, result=result,
            deadline_ms=rec.wake_at_ms or 0, log_lines=lines, log_count=count,
            max_steps=self.settings.max_steps_per_run,
            timeout_tail=_timeout_tail(key, child) if rec.wake_at_ms else "",
        )  # fmt: skip
        if isinstance(resolved, Fenced | LimitReached):
            self.refused(resolved)
        self.recorded[key] = StepRecord.decode(resolved.record)
        return resolved


def _timeout_tail(key: str, child: ChildRef) -> str:
    """The error an invoke step records when its timeout passes first."""
    message = f"step {key!r} waited past its timeout"
    error = children.child_error(
        child.workflow, child.instance_id, ChildWorkflowError.TIMED_OUT, message
    )
    return ',"e":' + dumps(error)


def _timeout_ms(timeout: Duration | None) -> int:
    if timeout is None:
        return 0
    timeout_ms = to_ms(timeout)
    if not 0 < timeout_ms <= MAX_WAIT_MS:
        raise InvalidStepError("invoke timeout must be > 0 and at most 365 days")
    return timeout_ms


def _observed(rec: StepRecord) -> str:
    return "completed" if rec.status == StepStatus.COMPLETED else "failed"


def _outcome(rec: StepRecord) -> Any:
    """A resolved invoke step: the child's output (step.invoke), or its ChildWorkflowError."""
    if rec.status == StepStatus.COMPLETED:
        return rec.result
    child = rec.child or ChildRef("", "")
    cause = (rec.error.child if rec.error else None) or StepError("Error", "")
    raise ChildWorkflowError(child.workflow, child.instance_id, cause.name, cause.message)
