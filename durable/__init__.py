"""durable: durable workflows for Python on Redis and arq."""

from durable.client import Client
from durable.durations import Duration, to_ms
from durable.errors import (
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
from durable.retries import Retries
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

__version__ = "0.1.0"

__all__ = [
    "Client",
    "ClientError",
    "ConfigurationError",
    "DurableError",
    "Duration",
    "InstanceNotFoundError",
    "InstanceTerminalError",
    "InstanceWaitTimeoutError",
    "InvalidDurationError",
    "NonRetryableError",
    "NondeterminismError",
    "ReceivedEvent",
    "Registry",
    "Retries",
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
