"""The sequence check: how far one pass over workflow code has reached through its run's steps.

Recorded steps carry their `order` (the order they were first recorded in). A pass that calls
a step the run never recorded while recorded steps are still unreached has left the recorded
path (a step was renamed, moved or removed), except in one case: concurrent branches
(`asyncio.gather`). One branch may reach a new step before a sibling branch, scheduled later in
the same turn of the event loop, reaches its recorded ones. Replaying recorded steps needs no
I/O, so every branch reaches all the recorded steps it will ever reach within a few turns of
the loop; a new step therefore waits until no step has been reached for `rounds` turns before
it is judged.
"""

from __future__ import annotations

import asyncio

from durable.records import StepRecord

# Turns of the event loop without a newly reached step after which a pass counts as settled.
# Each level of nested tasks (a gather inside a gather) costs one turn before it reaches a step.
NEW_STEP_ROUNDS = 16
# patched() settles sooner, so a branch waiting on its answer moves first when a patch and a
# new step of another branch both wait (the patch's answer may lead to recorded steps).
PATCH_ROUNDS = 8


class StepSequence:
    def __init__(self, recorded: dict[str, StepRecord]) -> None:
        self.unvisited: dict[str, int] = {key: rec.order for key, rec in recorded.items()}
        self.reached = 0  # steps reached or recorded by this pass, a measure of progress

    def visit(self, key: str) -> None:
        self.unvisited.pop(key, None)
        self.reached += 1

    @property
    def complete(self) -> bool:
        """Every recorded step has been reached: a new step is safe here."""
        return not self.unvisited

    def pending(self) -> list[str]:
        """The recorded steps not reached yet, in their recorded order."""
        return sorted(self.unvisited, key=lambda key: (self.unvisited[key], key))

    async def settle(self, rounds: int) -> bool:
        """Let concurrent branches reach their recorded steps; True when none is left."""
        idle, seen = 0, self.reached
        while self.unvisited and idle < rounds:
            await asyncio.sleep(0)
            idle, seen = (idle + 1, seen) if self.reached == seen else (0, self.reached)
        return not self.unvisited
