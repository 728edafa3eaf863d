"""The replay engine: runs a workflow function against its recorded steps.

The replay contract: a recorded step returns its result or re-raises its recorded error; a
different step type at a recorded key raises NondeterminismError; a cancelled attempt is never
recorded as a result. Every write carries the lease's fencing token.

An Execution is one pass of the function, made of:
- durable.recorder: the pass's state, the claim of each step call against the run's recorded
  steps (durable.sequence checks their order) and the fenced writes of new records;
- durable.attempts: `step.do` (attempts, retries, timeouts, the `running` mark);
- durable.waits: `step.sleep`, `step.sleep_until` and `step.wait_for_event`;
- durable.patches: `step.patched` and `step.deprecate_patch`;
- durable.invokes: `step.invoke` and `step.start` (child workflows);
- durable.logbuffer: `step.log` lines, written with the next record.
The runner (durable.runner) leases the instance, runs an Execution and records how it ended.
"""

from __future__ import annotations

from durable.attempts import Attempts
from durable.invokes import Invokes
from durable.patches import Patches
from durable.waits import Waits


class Execution(Attempts, Waits, Patches, Invokes):
    """One pass of a workflow function while this worker holds the instance's lease: what its
    `Step` calls (durable.step.StepHost)."""
