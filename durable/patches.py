"""`step.patched` and `step.deprecate_patch`: a change to workflow code that runs started on the
old code do not take. A run takes the new path when it reaches the call with no recorded steps
ahead of it, and records a marker (a step of type `patch`) that later passes find."""

from __future__ import annotations

from dataclasses import replace

from durable.names import patch_key
from durable.recorder import Recorder
from durable.sequence import PATCH_ROUNDS
from durable.types import StepStatus, StepType


class Patches(Recorder):
    async def patched(self, change_id: str) -> bool:
        """True when the run records `change_id` here or recorded it before; False when it
        recorded later steps without it (it took the old path). One answer per pass."""
        key = patch_key(change_id)
        if self.nondeterminism is not None:
            raise self.nondeterminism
        if change_id in self.patches:
            return self.patches[change_id]
        if key in self.recorded:
            self.visit(key, StepType.PATCH)
            taken = True
        else:
            taken = self.sequence.complete or await self.settled(PATCH_ROUNDS)
            if self.nondeterminism is not None:
                raise self.nondeterminism
            if change_id in self.patches:  # a concurrent call answered while this one waited
                return self.patches[change_id]
            self.patches[change_id] = taken
            if taken:
                await self._mark(key, change_id)
        self.patches.setdefault(change_id, taken)
        return taken

    async def _mark(self, key: str, change_id: str) -> None:
        """Record the marker: one save, no pause check and no step budget (it runs nothing).
        Saved like a running mark, so it leaves the count of interrupted executions alone."""
        rec = replace(self.new_record(key, change_id, StepType.PATCH), status=StepStatus.COMPLETED)
        self.sequence.visit(key)
        await self.save(key, rec, "start")

    def deprecate_patch(self, change_id: str) -> None:
        """Accept a recorded `change_id` marker without asking: code that dropped the patch's
        old path replays runs that recorded it."""
        key = patch_key(change_id)
        if key in self.recorded:
            self.visit(key, StepType.PATCH)
