"""A durable worker's takes sent behind its blocks on the wake markers (wake.TakeAhead).

A listener on one marker (one partition) writes its BZPOPMIN and a take of that partition
together; Redis runs the take the moment the block ends and answers both at once. `TakeAheads`
packs those takes (with the worker's owner and a token of its own each) and keeps their replies
for the worker's loop, which starts what they leased as it starts what its own takes lease. A
take whose reply was lost (the connection dropped) is sent again by the loop with the same
token, and so answers the leases it took (take.lua's receipt).

Each take behind a block leases at most one instance, and the takes behind a worker's blocks
(on a cluster, one per partition it serves) are never more than its free slots; a backlog is
taken by the loop, which takes again at once while the takes report more due. A worker whose
slots fill before a block ends may run one instance beyond them per take still behind a block.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from durable import replies
from durable.replies import ForeignJob, NothingDue, Taken, UnexpectedReply
from durable.store import Store, decode
from durable.worker.pipelining import pack
from durable.worker.serving import Serving

Found = Taken | ForeignJob | NothingDue


@dataclass(frozen=True)
class Ticket:
    """One take sent behind a block: the partition it takes from and its token."""

    partition: int
    token: str


class TakeAheads:
    def __init__(
        self, tokens: Iterator[str], free: Callable[[], int], poke: Callable[[], None]
    ) -> None:
        self.tokens = tokens
        self.free = free  # the worker's free slots
        self.poke = poke
        self.store: Store | None = None
        self.owner = ""
        self.ahead_ms = 0
        self.serving: Serving | None = None
        self.outstanding: set[Ticket] = set()
        self.retakes: dict[int, str] = {}  # partition -> token of a take to send again
        self._taken: list[tuple[int, Found]] = []

    def attach(self, store: Store, owner: str, ahead_ms: int, serving: Serving) -> None:
        self.store, self.owner, self.ahead_ms, self.serving = store, owner, ahead_ms, serving

    def command(self, marker: str) -> tuple[bytes, Ticket] | None:
        """The take to send behind a block on `marker`, and its ticket for `answered`; None
        when the takes already behind blocks (one per marker: on a cluster each partition has
        its own) would fill the worker's free slots."""
        store, serving = self.store, self.serving
        if store is None or serving is None or len(self.outstanding) >= self.free():
            return None
        partition = serving.markers.get(marker)
        if partition is None:
            return None
        ticket = Ticket(partition, next(self.tokens))
        self.outstanding.add(ticket)
        script, keys, args = store.take_command(
            owner=self.owner, ttl_ms=store.settings.lease_ttl_ms, token=ticket.token, count=1,
            ahead_ms=self.ahead_ms, partition=partition,
        )  # fmt: skip
        return pack(("EVALSHA", script.sha, len(keys), *keys, *args)), ticket

    def answered(self, ticket: Ticket, reply: Any) -> None:
        """The reply of the take behind a block, or why there is none: then the worker takes
        from that partition itself, with the same token (when it still serves it)."""
        if ticket not in self.outstanding:
            return
        self.outstanding.discard(ticket)
        found: Found | None = None
        if not isinstance(reply, BaseException):
            try:
                found = replies.take(list(decode(reply)))
            except UnexpectedReply:
                found = None
        if found is not None:
            self._taken.append((ticket.partition, found))
        elif self.serving is not None and ticket.partition in self.serving.served.partitions:
            self.retakes[ticket.partition] = ticket.token
            self.serving.served.wake(ticket.partition)
        self.poke()

    def taken(self) -> list[tuple[int, Found]]:
        """The takes answered since the last call, with their partitions."""
        found, self._taken = self._taken, []
        return found
