"""Every error the library raises.

DurableError
 ├── WorkflowError                      raised into or out of workflow code
 │    ├── NonRetryableError             user-raised: fail the step at once
 │    ├── StepTimeoutError              an attempt exceeded its timeout (retryable)
 │    ├── WaitForEventTimeoutError      a wait_for_event deadline passed
 │    ├── NondeterminismError           replay disagrees with the run's recorded steps
 │    ├── WorkerLostError               a step was interrupted too many times
 │    ├── StepResultError               a step result is not JSON or too large
 │    ├── StepLimitError                a run exceeded its step limit
 │    ├── InvalidStepError              a bad step name, event type or timeout (or a child
 │    │                                 instance id taken by another instance)
 │    ├── ChildWorkflowError            a child awaited by step.invoke errored, was terminated
 │    │                                 or timed out
 │    └── StepFailedError               a recorded step error re-raised on replay
 ├── InvalidDurationError (also ValueError)
 ├── InstanceWaitTimeoutError (also TimeoutError)  Client.wait gave up; the instance runs on
 ├── ConfigurationError                 bad settings or registry import path
 │    └── PartitionsError               DURABLE_PARTITIONS disagrees with what Redis holds
 ├── RedisUnreachableError             a service could not reach Redis at start-up
 ├── MetricsServerError               a worker could not serve its metrics port
 └── ClientError                        control-plane errors; each has a stable `code`
      ├── ValidationError               VALIDATION_ERROR
      │    ├── InvalidInstanceIdError   INVALID_INSTANCE_ID
      │    ├── ParamsInvalidError       WORKFLOW_PARAMS_INVALID (with issues)
      │    └── InvalidCursorError       INVALID_CURSOR
      ├── WorkflowNotFoundError         WORKFLOW_NOT_FOUND
      ├── InstanceNotFoundError         INSTANCE_NOT_FOUND
      ├── ScheduleNotFoundError         SCHEDULE_NOT_FOUND
      ├── InstanceTerminalError         INSTANCE_TERMINAL
      ├── InstanceNotErroredError       INSTANCE_NOT_ERRORED
      ├── FailedStepNotRetryableError   FAILED_STEP_NOT_RETRYABLE
      ├── PayloadTooLargeError          PAYLOAD_TOO_LARGE
      └── StoreUnavailableError         SERVICE_UNAVAILABLE

Two control-flow signals of the engine derive from BaseException, beside the tree, so that
`except Exception` in workflow code cannot swallow them:

BaseException
 ├── SuspendExecution                   the run waits (a timer, an event, a retry, a pause)
 └── LeaseLost                          this worker no longer holds the instance's lease
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class DurableError(Exception):
    """Root of every error raised by durable."""


class WorkflowError(DurableError):
    """An error that travels through workflow code; `name` is what history records."""

    def __init__(self, message: str, name: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.name = name or type(self).__name__


class NonRetryableError(WorkflowError):
    """Raise inside a step to fail it immediately, skipping any remaining retries."""


class StepTimeoutError(WorkflowError):
    def __init__(self, step_key: str, timeout_ms: int) -> None:
        super().__init__(f"step {step_key!r} attempt timed out after {timeout_ms} ms")
        self.step_key = step_key
        self.timeout_ms = timeout_ms


class WaitForEventTimeoutError(WorkflowError):
    def __init__(self, step_key: str, event_type: str) -> None:
        super().__init__(
            f"no {event_type!r} event arrived for step {step_key!r} before its timeout"
        )
        self.step_key = step_key
        self.event_type = event_type


class NondeterminismError(WorkflowError):
    """Replayed code disagrees with the run's recorded steps. Either the step at `step_key` was
    recorded with another type (`recorded_type`), or the call at `step_key` is new to the run
    while recorded steps were never reached (`unvisited`, in the order they were recorded):
    a recorded step was renamed, moved or removed. The new call did not run."""

    SHOWN = 5  # unvisited steps named in the message

    def __init__(
        self,
        step_key: str,
        recorded_type: str | None,
        requested_type: str,
        *,
        unvisited: Sequence[str] = (),
    ) -> None:
        self.step_key = step_key
        self.recorded_type = recorded_type
        self.requested_type = requested_type
        self.unvisited = tuple(unvisited)
        super().__init__(self._describe())

    def _describe(self) -> str:
        rule = "workflow code must call the same steps in the same order"
        if self.recorded_type is not None:
            return (
                f"step {self.step_key!r} was recorded as {self.recorded_type!r} but the workflow "
                f"now calls {self.requested_type!r}; {rule}"
            )
        shown = ", ".join(repr(key) for key in self.unvisited[: self.SHOWN])
        more = len(self.unvisited) - self.SHOWN
        if more > 0:
            shown += f" and {more} more"
        return (
            f"the workflow now calls {self.requested_type} step {self.step_key!r}, which this run "
            f"never recorded, before reaching its recorded steps {shown}; the new step did not "
            f"run. {rule.capitalize()} (renamed, moved or removed steps break replay)"
        )


class WorkerLostError(WorkflowError):
    def __init__(self, step_key: str, interruptions: int) -> None:
        super().__init__(
            f"step {step_key!r} was interrupted {interruptions} times by lost workers; giving up"
        )
        self.step_key = step_key


class StepResultError(WorkflowError):
    """A step or workflow produced a value that cannot be stored (not JSON, or too large)."""


class StepLimitError(WorkflowError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"this run reached the limit of {limit} steps")
        self.limit = limit


class InvalidStepError(WorkflowError):
    """A step call with a bad name, event type or timeout (a bug in workflow code)."""


class ChildWorkflowError(WorkflowError):
    """A child workflow awaited with `step.invoke` did not complete: `error_name` and
    `error_message` are the child's own error ("Terminated" when it was terminated,
    "ChildWorkflowTimeoutError" when the invoke's timeout passed first); `child_workflow` and
    `child_id` name the child."""

    TERMINATED = "Terminated"
    TIMED_OUT = "ChildWorkflowTimeoutError"

    def __init__(
        self, child_workflow: str, child_id: str, error_name: str, error_message: str
    ) -> None:
        self.child_workflow = child_workflow
        self.child_id = child_id
        self.error_name = error_name
        self.error_message = error_message
        super().__init__(
            f"child workflow {child_workflow}/{child_id} failed: {error_name}: {error_message}"
        )


class StepFailedError(WorkflowError):
    """A recorded step error, re-raised on replay with the recorded name and message."""


class InvalidDurationError(DurableError, ValueError):
    def __init__(self, value: object, reason: str = "") -> None:
        detail = f": {reason}" if reason else ""
        super().__init__(
            f"invalid duration {value!r}{detail}; use a timedelta, a number of milliseconds, "
            'or a string like "250 ms", "2 s", "15 min", "1.5h", "7 days"'
        )
        self.value = value


class InstanceWaitTimeoutError(DurableError, TimeoutError):
    """`Client.wait` timed out before the instance ended; the instance itself is untouched."""

    def __init__(self, workflow: str, instance_id: str, status: str, timeout_ms: int) -> None:
        super().__init__(
            f"instance {instance_id!r} of workflow {workflow!r} did not end within "
            f"{timeout_ms} ms (status: {status})"
        )
        self.workflow = workflow
        self.instance_id = instance_id
        self.status = status
        self.timeout_ms = timeout_ms


class ConfigurationError(DurableError):
    """Invalid settings, or a registry import path that cannot be loaded."""


class PartitionsError(ConfigurationError):
    """The partitions this process is configured with (DURABLE_PARTITIONS) are not those its
    Redis holds, or a repartition is under way: the process must not start."""


class RedisUnreachableError(DurableError):
    """A service gave up reaching Redis at start-up; `url` has its password masked."""

    def __init__(self, url: str, cause: str, waited_ms: int | None = None) -> None:
        waited = f" (gave up after {waited_ms / 1000:g} s)" if waited_ms else ""
        super().__init__(f"cannot reach Redis at {url}: {cause}{waited}")
        self.url = url
        self.cause = cause
        self.waited_ms = waited_ms


class MetricsServerError(DurableError):
    """A worker could not listen on its metrics port (`--metrics-port`), e.g. one in use."""

    def __init__(self, host: str, port: int, cause: str) -> None:
        super().__init__(f"cannot serve metrics on {host}:{port}: {cause}")
        self.host = host
        self.port = port
        self.cause = cause


class ClientError(DurableError):
    """A control-plane request that cannot be carried out; `code` names it for HTTP and CLI."""

    code = "INTERNAL_SERVER_ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ValidationError(ClientError):
    code = "VALIDATION_ERROR"

    def __init__(self, message: str, issues: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.issues = issues or []


class InvalidInstanceIdError(ValidationError):
    code = "INVALID_INSTANCE_ID"


class ParamsInvalidError(ValidationError):
    code = "WORKFLOW_PARAMS_INVALID"


class InvalidCursorError(ValidationError):
    code = "INVALID_CURSOR"


class WorkflowNotFoundError(ClientError):
    code = "WORKFLOW_NOT_FOUND"

    def __init__(self, workflow: str) -> None:
        super().__init__(f"workflow {workflow!r} is not registered")
        self.workflow = workflow


class InstanceNotFoundError(ClientError):
    code = "INSTANCE_NOT_FOUND"

    def __init__(self, workflow: str, instance_id: str) -> None:
        super().__init__(f"instance {instance_id!r} of workflow {workflow!r} does not exist")
        self.workflow = workflow
        self.instance_id = instance_id


class ScheduleNotFoundError(ClientError):
    code = "SCHEDULE_NOT_FOUND"

    def __init__(self, workflow: str, schedule_id: str) -> None:
        super().__init__(f"workflow {workflow!r} has no schedule {schedule_id!r}")
        self.workflow = workflow
        self.schedule_id = schedule_id


class InstanceTerminalError(ClientError):
    code = "INSTANCE_TERMINAL"

    def __init__(self, instance_id: str, status: str) -> None:
        super().__init__(f"instance {instance_id!r} is {status}; it no longer accepts this action")
        self.instance_id = instance_id
        self.status = status


class InstanceNotErroredError(ClientError):
    code = "INSTANCE_NOT_ERRORED"

    def __init__(self, instance_id: str, status: str) -> None:
        super().__init__(f"instance {instance_id!r} is {status}, not errored")
        self.instance_id = instance_id
        self.status = status


class FailedStepNotRetryableError(ClientError):
    code = "FAILED_STEP_NOT_RETRYABLE"


class PayloadTooLargeError(ClientError):
    code = "PAYLOAD_TOO_LARGE"

    def __init__(self, what: str, size: int, limit: int) -> None:
        super().__init__(f"{what} is {size} bytes of JSON; the limit is {limit} bytes")
        self.what = what
        self.size = size
        self.limit = limit


class StoreUnavailableError(ClientError):
    code = "SERVICE_UNAVAILABLE"

    def __init__(
        self, message: str = "the workflow store (Redis) is unavailable; retry later"
    ) -> None:
        super().__init__(message)


class SuspendExecution(BaseException):
    """Unwinds workflow code when it must wait; never caught by `except Exception`."""


class LeaseLost(BaseException):
    """Unwinds workflow code when the instance was taken from this worker (terminated,
    restarted, or its lease expired and another worker recovered it): a write carrying this
    execution's fencing token was refused, and the new holder carries on."""
