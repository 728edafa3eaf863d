"""durable: durable workflows for Python on Redis and arq."""

from typing import TYPE_CHECKING, Any

from durable.durations import Duration, to_ms
from durable.errors import (
    ChildWorkflowError,
    ClientError,
    ConfigurationError,
    DurableError,
    InstanceNotFoundError,
    InstanceTerminalError,
    InstanceWaitTimeoutError,
    InvalidDurationError,
    NondeterminismError,
    NonRetryableError,
    StepFailedError,
    StepTimeoutError,
    WaitForEventTimeoutError,
    WorkerLostError,
    WorkflowNotFoundError,
)
from durable.limits import Concurrency, RateLimit
from durable.retries import Retries
from durable.schedule import Schedule
from durable.settings import Settings
from durable.step import ReceivedEvent, Step, StepContext
from durable.types import Status
from durable.workflow import (
    Registry,
    Workflow,
    WorkflowEvent,
    define_workflow,
    load_registry,
    workflow,
)

if TYPE_CHECKING:
    from durable.client import Client

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """`durable.Client` is imported on first use, so that importing the authoring API or
    `durable.types` does not import redis."""
    if name == "Client":
        from durable.client import Client

        return Client
    raise AttributeError(f"module 'durable' has no attribute {name!r}")


__all__ = [
    "ChildWorkflowError",
    "Client",
    "ClientError",
    "Concurrency",
    "ConfigurationError",
    "DurableError",
    "Duration",
    "InstanceNotFoundError",
    "InstanceTerminalError",
    "InstanceWaitTimeoutError",
    "InvalidDurationError",
    "NonRetryableError",
    "NondeterminismError",
    "RateLimit",
    "ReceivedEvent",
    "Registry",
    "Retries",
    "Schedule",
    "Settings",
    "Status",
    "Step",
    "StepContext",
    "StepFailedError",
    "StepTimeoutError",
    "WaitForEventTimeoutError",
    "WorkerLostError",
    "Workflow",
    "WorkflowEvent",
    "WorkflowNotFoundError",
    "__version__",
    "define_workflow",
    "load_registry",
    "to_ms",
    "workflow",
]
