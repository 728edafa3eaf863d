"""Control actions racing execution: pause/resume/terminate/restart/events fired concurrently at
40 instances running on three worker processes. Afterwards every invariant of
tests/reliability/invariants.py must hold.

The seed is printed; rerun a failure with DURABLE_REL_SEED=<seed>.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections import Counter
from typing import Any

import pytest
from redis.asyncio import Redis

from durable.client import Client
from durable.errors import ClientError
from durable.settings import Settings
from tests.conftest import REDIS_URL
from tests.helpers import assert_eventually
from tests.reliability import flows
from tests.reliability.invariants import (
    TERMINAL,
    Expect,
    check_instance,
    frozen_view,
    read_run,
    stray_entries,
    stuck,
)
from tests.reliability.support import Workers

pytestmark = pytest.mark.timeout(150)

INSTANCES = 40  # rel-chain instances: steps, a sleep, a retried step, two event waits
FAILING = 8  # rel-fail instances: they error, and get retry-failed-step fired at them
WAITS = 2
RACE_SECONDS = 8.0
RACERS = 8
CONTROLS = ("pause", "resume", "terminate", "restart")
# (action, weight): events dominate so waits get fed while controls keep interrupting them
ACTIONS = [
    ("event", 30),
    ("duplicate", 8),
    ("noise", 5),
    ("pause", 17),
    ("resume", 20),
    ("terminate", 6),
    ("restart", 8),
    ("retry", 6),
]
# retry-failed-step on an instance that is not (or no longer) errored in a step.do step
RETRY_REFUSALS = ("INSTANCE_NOT_ERRORED", "FAILED_STEP_NOT_RETRYABLE")
ODD_VALUES: list[Any] = [[], {}, 2**53, -(2**53), "ünïcødé ✓ 日本", None, 0.1, [[{}]], ""]


def seed() -> int:
    return int(os.environ.get("DURABLE_REL_SEED") or int.from_bytes(os.urandom(4), "big"))


class Race:
    """Fires random actions; controls on one instance are serialised so 'last' is well defined."""

    def __init__(self, client: Client, rng: random.Random, expects: list[Expect]) -> None:
        self.client = client
        self.rng = rng
        self.expects = expects
        self.locks = {e.instance_id: asyncio.Lock() for e in expects}
        self.unexpected: list[str] = []
        self.tally: Counter[str] = Counter()
        self.sent = 0

    async def run(self, seconds: float, racers: int) -> None:
        deadline = time.monotonic() + seconds
        await asyncio.gather(*(self._racer(deadline) for _ in range(racers)))

    async def _racer(self, deadline: float) -> None:
        names, weights = zip(*ACTIONS, strict=True)
        while time.monotonic() < deadline:
            expect = self.rng.choice(self.expects)
            action = self.rng.choices(names, weights)[0]
            try:
                await self.act(expect, action)
            except Exception as exc:  # anything but the expected ClientErrors is a finding
                self.unexpected.append(f"{action} {expect.instance_id}: {exc!r}")
            await asyncio.sleep(self.rng.uniform(0, 0.03))  # pacing of the race itself

    async def act(self, e: Expect, action: str) -> None:
        if action == "retry" and e.workflow == "rel-fail":
            async with self.locks[e.instance_id]:
                await self.retry(e)
        elif action in CONTROLS:
            async with self.locks[e.instance_id]:
                await self.control(e, action)
        elif action == "duplicate" and e.acked:
            eid = self.rng.choice(sorted(e.acked))
            await self.client.send_event(
                e.workflow, e.instance_id, type="go", payload="changed", event_id=eid
            )
            self.tally["duplicate accepted"] += 1
        else:
            await self.event(e, "noise" if action == "noise" else "go")

    async def control(self, e: Expect, action: str) -> None:
        try:
            await getattr(self.client, action)(e.workflow, e.instance_id)
        except ClientError as exc:
            if exc.code != "INSTANCE_TERMINAL" or action == "restart":
                raise
            self.tally[f"{action} refused (terminal)"] += 1
            return
        self.tally[f"{action} ok"] += 1
        if action == "terminate":
            e.terminated = True
            e.frozen[e.restarts] = frozen_view(*await read_run(self.client, *_ref(e), e.restarts))
        elif action == "restart":
            old, e.restarts, e.terminated = e.restarts, e.restarts + 1, False
            e.frozen[old] = frozen_view(*await read_run(self.client, *_ref(e), old))

    async def retry(self, e: Expect) -> None:
        try:
            await self.client.retry_failed_step(*_ref(e))
        except ClientError as exc:
            if exc.code not in RETRY_REFUSALS:
                raise
            self.tally[f"retry refused ({exc.code})"] += 1
            return
        self.tally["retry ok"] += 1
        e.retried[e.restarts] += 1

    async def event(self, e: Expect, etype: str) -> None:
        self.sent += 1
        eid = f"{e.instance_id}.{etype}.{self.sent}"
        payload = {"eid": eid, "value": self.rng.choice(ODD_VALUES)}
        try:
            await self.client.send_event(*_ref(e), type=etype, payload=payload, event_id=eid)
        except ClientError as exc:
            if exc.code != "INSTANCE_TERMINAL":
                raise
            e.refused.add(eid)
            self.tally["event refused (terminal)"] += 1
            return
        e.acked[eid] = payload
        self.tally[f"{etype} event accepted"] += 1


def _ref(e: Expect) -> tuple[str, str]:
    return e.workflow, e.instance_id


async def statuses(client: Client, expects: list[Expect]) -> dict[str, str]:
    got = [await client.get(*_ref(e)) for e in expects]
    return {e.instance_id: g.details.status for e, g in zip(expects, got, strict=True)}


async def finish(race: Race) -> None:
    """Resume whatever is paused and feed every wait, so each instance can end."""
    for e in race.expects:
        async with race.locks[e.instance_id]:
            try:
                await race.client.resume(*_ref(e))
            except ClientError as exc:
                if exc.code != "INSTANCE_TERMINAL":
                    raise
        for _ in range(WAITS if e.workflow == "rel-chain" else 0):
            await race.event(e, "go")


async def test_control_actions_racing_execution_keep_every_invariant(
    prefix: str, settings: Settings, redis: Redis
) -> None:
    chosen = seed()
    print(f"control race seed: {chosen} (rerun with DURABLE_REL_SEED={chosen})")
    rng = random.Random(chosen)
    workers = Workers(REDIS_URL, prefix)
    client = Client(flows.workflows, settings)
    expects = [Expect("rel-chain", f"race{n}") for n in range(INSTANCES)]
    failing = [Expect("rel-fail", f"fail{n}", final="errored") for n in range(FAILING)]
    try:
        for _ in range(3):
            workers.start()
        params = [
            {"nap_ms": rng.randint(20, 800), "hold_ms": rng.randint(0, 150), "waits": WAITS}
            for _ in expects
        ]
        await client.create_batch(
            "rel-chain",
            [{"id": e.instance_id, "params": p} for e, p in zip(expects, params, strict=True)],
        )
        await client.create_batch("rel-fail", [{"id": e.instance_id} for e in failing])
        expects += failing
        race = Race(client, rng, expects)
        await race.run(RACE_SECONDS, RACERS)
        print(f"race actions: {dict(race.tally)}")
        assert race.unexpected == []

        grace = settings.lease_ttl_ms
        await assert_eventually(lambda: _none(stuck(redis, prefix, expects, grace)), 10)
        await finish(race)
        assert race.unexpected == []

        async def all_terminal() -> bool:
            now = await statuses(client, expects)
            waiting = {i: s for i, s in now.items() if s not in TERMINAL}
            assert not waiting, (waiting, await stuck(redis, prefix, expects, grace))
            return True

        await assert_eventually(all_terminal, 60, interval=0.2)
        problems: list[str] = []
        for e in expects:
            problems += await check_instance(client, redis, e)
        assert problems == []
        ended = {e.member for e in expects}
        assert await stray_entries(redis, prefix, ended) == []
        final = Counter((await statuses(client, expects)).values())
        print(f"final statuses: {dict(final)}")
        assert final["terminated"] == sum(e.terminated for e in expects)
    finally:
        workers.stop()
        await client.aclose()


async def _none(found: Any) -> bool:
    problems = await found
    assert problems == [], problems
    return True
