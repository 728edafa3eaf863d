"""The soak: minutes of continuous load with worker kills and Redis restarts, then the invariants.

Run by hand, not in CI:  scripts/soak --minutes 2   (see docs/guarantees.md)

It starts its own redis-server (AOF, fsync always) on a free port and its own worker processes,
creates instances of the reliability flows at a steady rate, feeds their event waits, fires
pause/resume/terminate/restart at random, SIGKILLs (and now and then SIGTERMs) workers, and
restarts Redis (SIGTERM or SIGKILL) every so often. Then it lets everything finish and checks
tests/reliability/invariants.py on every instance. Exit status 1 if anything was lost or broken.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from redis.asyncio import Redis

from durable.client import Client
from durable.errors import ClientError, StoreUnavailableError
from durable.settings import Settings
from tests.helpers import PrivateRedis
from tests.reliability import flows
from tests.reliability.invariants import (
    TERMINAL,
    Expect,
    check_instance,
    read_run,
    stray_entries,
    stuck,
)
from tests.reliability.support import Workers

T = TypeVar("T")
WAITS = 2
FINAL_STATUS = {"rel-chain": "complete", "rel-loop": "complete", "rel-fail": "errored"}
MIX = [("rel-chain", 6), ("rel-loop", 3), ("rel-fail", 1)]


@dataclass
class Options:
    minutes: float = 10.0
    workers: int = 3
    rate: float = 6.0  # instances created per second
    kill_every: tuple[float, float] = (3.0, 8.0)
    redis_every: float = 45.0
    seed: int = 0
    settle_s: float = 300.0


@dataclass
class Stats:
    tally: Counter[str] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)

    def add(self, name: str, n: int = 1) -> None:
        self.tally[name] += n


class Soak:
    def __init__(self, options: Options) -> None:
        self.o = options
        self.rng = random.Random(options.seed)
        self.redis_server = PrivateRedis()
        self.prefix = f"soak{uuid.uuid4().hex[:8]}"
        self.log_dir = tempfile.mkdtemp(prefix="durable-soak-")
        self.workers = Workers(self.redis_server.url, self.prefix, log_dir=self.log_dir)
        self.settings = Settings(
            redis_url=self.redis_server.url, prefix=self.prefix, lease_ttl_ms=2000
        )
        self.expects: dict[str, Expect] = {}
        self.locks: dict[str, asyncio.Lock] = {}
        self.fed: Counter[tuple[str, int]] = Counter()  # (id, run) -> go events accepted
        self.feed: asyncio.Queue[str] = asyncio.Queue()
        self.ended: set[str] = set()  # refused a control as terminal (until restarted)
        self.redis_gate = asyncio.Lock()  # controls never straddle a Redis restart
        self.stats = Stats()
        self.drain_s = 0.0  # slowest graceful (SIGTERM) worker exit
        self.killed: set[int] = set()  # pids the soak itself signalled
        self.stop_at = 0.0
        self.client: Client
        self.redis: Redis

    # -- retrying calls --------------------------------------------------------------------------

    async def retried(self, call: Callable[[], Awaitable[T]]) -> T:
        """Idempotent calls (create with an id, events with an id) are retried through outages."""
        for attempt in range(600):
            try:
                return await call()
            except StoreUnavailableError:
                self.stats.add("calls retried while Redis was down")
                await asyncio.sleep(min(0.05 * 2 ** min(attempt, 4), 0.5))
        raise RuntimeError("Redis stayed unavailable for minutes")

    # -- load --------------------------------------------------------------------------------

    async def creator(self) -> None:
        names, weights = zip(*MIX, strict=True)
        n = 0
        while time.monotonic() < self.stop_at:
            wf = self.rng.choices(names, weights)[0]
            n += 1
            iid = f"s{n}"
            params = self.params(wf)
            await self.retried(partial(self.client.create, wf, instance_id=iid, params=params))
            self.expects[iid] = Expect(wf, iid, final=FINAL_STATUS[wf])
            self.locks[iid] = asyncio.Lock()
            self.stats.add(f"created {wf}")
            if wf == "rel-chain":
                self.feed.put_nowait(iid)
            await asyncio.sleep(self.rng.expovariate(self.o.rate))

    def params(self, wf: str) -> dict[str, Any]:
        if wf == "rel-chain":
            return {"nap_ms": self.rng.randint(10, 2000), "hold_ms": self.rng.randint(0, 300)}
        if wf == "rel-loop":
            return {"n": self.rng.randint(2, 12), "hold_ms": self.rng.randint(0, 100)}
        return {}

    async def feeder(self) -> None:
        while time.monotonic() < self.stop_at:
            try:
                iid = await asyncio.wait_for(self.feed.get(), 0.5)
            except TimeoutError:
                continue
            await asyncio.sleep(self.rng.uniform(0, 0.3))
            e = self.expects[iid]
            if self.fed[iid, e.restarts] >= WAITS + int(iid[1:]) % 2:  # some get one extra
                continue
            if await self.send(e, "go"):
                self.feed.put_nowait(iid)

    async def send(self, e: Expect, etype: str) -> bool:
        """Send one event with a fresh id; False when the instance refused it (terminal)."""
        self.stats.add("event sends")
        eid = f"{e.instance_id}.{etype}.{self.stats.tally['event sends']}"
        payload = {"eid": eid, "r": self.rng.random()}
        run = e.restarts
        try:
            await self.retried(
                lambda: self.client.send_event(
                    e.workflow, e.instance_id, type=etype, payload=payload, event_id=eid
                )
            )
        except ClientError as exc:
            if exc.code != "INSTANCE_TERMINAL":
                raise
            e.refused.add(eid)
            self.stats.add("events refused (terminal)")
            return False
        e.acked[eid] = payload
        self.fed[e.instance_id, run] += 1
        self.stats.add(f"{etype} events accepted")
        if self.rng.random() < 0.1:  # the same id again: accepted, stores nothing new
            await self.retried(
                lambda: self.client.send_event(
                    e.workflow, e.instance_id, type=etype, payload="dup", event_id=eid
                )
            )
            self.stats.add("duplicate sends accepted")
        return True

    async def controller(self) -> None:
        while time.monotonic() < self.stop_at:
            await asyncio.sleep(self.rng.uniform(0.05, 0.4))
            if not self.expects:
                continue
            recent = [i for i in list(self.expects)[-60:] if i not in self.ended]
            if not recent:
                continue
            e = self.expects[self.rng.choice(recent)]
            action = self.rng.choices(["pause", "resume", "terminate", "restart"], [4, 4, 1, 2])
            async with self.redis_gate, self.locks[e.instance_id]:
                await self.control(e, action[0])

    async def control(self, e: Expect, action: str) -> None:
        try:
            await getattr(self.client, action)(e.workflow, e.instance_id)
        except ClientError as exc:
            if exc.code != "INSTANCE_TERMINAL" or action == "restart":
                raise
            self.stats.add(f"{action} refused (terminal)")
            self.ended.add(e.instance_id)
            return
        self.stats.add(f"{action} ok")
        if action == "terminate":
            e.terminated = True
        elif action == "restart":
            e.restarts, e.terminated = e.restarts + 1, False
            self.ended.discard(e.instance_id)
            if e.workflow == "rel-chain":
                self.feed.put_nowait(e.instance_id)
        elif action == "pause":
            asyncio.get_running_loop().call_later(
                self.rng.uniform(0.5, 3), lambda: asyncio.ensure_future(self.resume_later(e))
            )

    async def resume_later(self, e: Expect) -> None:
        async with self.redis_gate, self.locks[e.instance_id]:
            await self.control(e, "resume")

    # -- chaos ---------------------------------------------------------------------------------

    async def nap(self, seconds: float) -> bool:
        """Sleep, but not past the end of the load phase; True while the load goes on."""
        await asyncio.sleep(max(0.0, min(seconds, self.stop_at - time.monotonic())))
        return time.monotonic() < self.stop_at

    async def worker_chaos(self) -> None:
        while await self.nap(self.rng.uniform(*self.o.kill_every)):
            live = self.workers.live
            if not live:
                continue
            victim = self.rng.choice(live)
            self.killed.add(victim.pid)
            if self.rng.random() < 0.15:
                began = time.monotonic()
                victim.send_signal(signal.SIGTERM)
                await asyncio.to_thread(victim.wait, 60)
                self.drain_s = max(self.drain_s, time.monotonic() - began)
                self.stats.add("worker SIGTERMs (graceful)")
            else:
                self.workers.kill(victim)
                self.stats.add("worker SIGKILLs")
            self.workers.start()

    async def watch_workers(self) -> None:
        """Workers may only die when the soak kills them: any other exit is a finding."""
        while await self.nap(0.5):
            for proc in list(self.workers.procs):
                if proc.poll() is not None and proc.pid not in self.killed:
                    self.killed.add(proc.pid)
                    self.stats.add("workers that exited on their own")
                    self.stats.unexpected.append(
                        f"worker {proc.pid} exited on its own (code {proc.returncode})"
                    )
                    self.workers.start()

    async def redis_chaos(self) -> None:
        while await self.nap(self.o.redis_every * self.rng.uniform(0.7, 1.3)):
            how = signal.SIGKILL if self.rng.random() < 0.5 else signal.SIGTERM
            async with self.redis_gate:
                await asyncio.to_thread(self.redis_server.stop, how)
                await asyncio.sleep(self.rng.uniform(0.5, 2.0))
                await asyncio.to_thread(self.redis_server.start)
            self.stats.add(f"redis restarts ({how.name})")

    # -- the run -------------------------------------------------------------------------------

    async def run(self) -> int:
        self.redis_server.start()
        for _ in range(self.o.workers):
            self.workers.start()
        self.client = Client(flows.workflows, self.settings)
        self.redis = Redis.from_url(self.redis_server.url)
        try:
            started = time.monotonic()
            self.stop_at = started + self.o.minutes * 60
            await self.load()
            await self.settle()
            problems = await self.check()
            self.report(problems, time.monotonic() - started)
            return 1 if problems or self.stats.unexpected else 0
        finally:
            await self.client.aclose()
            await self.redis.aclose()
            self.workers.stop()
            self.redis_server.close()

    async def load(self) -> None:
        tasks = [self.creator(), self.controller(), self.worker_chaos(), self.redis_chaos()]
        tasks.append(self.watch_workers())
        tasks += [self.feeder() for _ in range(4)]
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for res in results:
            if isinstance(res, BaseException):
                self.stats.unexpected.append(repr(res))
        while len(self.workers.live) < self.o.workers:
            self.workers.start()

    async def settle(self) -> None:
        """Resume what is paused and feed the waits still waiting, until every instance ends."""
        for e in list(self.expects.values()):
            got = await self.retried(partial(self.client.get, e.workflow, e.instance_id))
            if got.details.status not in TERMINAL:
                async with self.locks[e.instance_id]:
                    await self.settle_resume(e)
        deadline = time.monotonic() + self.o.settle_s
        while time.monotonic() < deadline:
            left = await self.unfinished()
            print(f"  settling: {len(left)} instance(s) not ended yet", flush=True)
            if not left:
                return
            for e, got in left:
                step = got.meta.current_step
                if got.details.status == "waiting" and step and step.type == "waitForEvent":
                    await self.send(e, "go")
            await asyncio.sleep(2)

    async def settle_resume(self, e: Expect) -> None:
        try:
            await self.client.resume(e.workflow, e.instance_id)
        except ClientError as exc:
            if exc.code != "INSTANCE_TERMINAL":
                raise
        self.stats.add("resumes at the end of the load")

    async def unfinished(self) -> list[tuple[Expect, Any]]:
        out = []
        for e in self.expects.values():
            got = await self.client.get(e.workflow, e.instance_id)
            if got.details.status not in TERMINAL:
                out.append((e, got))
        return out

    async def check(self) -> list[str]:
        expects = list(self.expects.values())
        problems = [f"stuck: {s}" for s in await stuck(self.redis, self.prefix, expects, 4000)]
        for e in expects:
            problems += await check_instance(self.client, self.redis, e)
            await self.count_delivery(e)
        problems += await stray_entries(self.redis, self.prefix, {e.member for e in expects})
        return problems

    async def count_delivery(self, e: Expect) -> None:
        got = await self.client.get(e.workflow, e.instance_id)
        self.stats.add(f"ended {got.details.status}")
        for run in range(got.details.run_number + 1):
            steps, events = await read_run(self.client, e.workflow, e.instance_id, run)
            self.stats.add("events stored", len(events))
            delivered = sum(bool(v.consumed_by_step_key) for v in events)
            self.stats.add("events delivered (consumed by a wait)", delivered)
            done = [s for s in steps if s.type == "do" and s.status == "completed"]
            self.stats.add("step.do results recorded", len(done))
        pattern = f"{self.prefix}:cnt:{e.workflow}/{e.instance_id}/*"
        async for key in self.redis.scan_iter(match=pattern, count=200):
            self.stats.add(
                "step.do executions (incl. re-runs)", int(await self.redis.get(key) or 0)
            )

    def report(self, problems: list[str], took: float) -> None:
        t = self.stats.tally
        acked = sum(len(e.acked) for e in self.expects.values())
        lost_events = [p for p in problems if "acknowledged event" in p]
        lost_instances = [p for p in problems if "status" in p]
        print()
        print(
            f"soak finished in {took / 60:.1f} min (load {self.o.minutes} min), seed {self.o.seed}"
        )
        kills = t["worker SIGKILLs"] + t["worker SIGTERMs (graceful)"]
        restarts = sum(n for name, n in t.items() if name.startswith("redis restarts"))
        print(f"  survived: {kills} worker kills, {restarts} Redis restarts")
        print(f"  workers that exited on their own: {t['workers that exited on their own']}")
        print(f"  slowest graceful worker exit (SIGTERM): {self.drain_s:.1f} s")
        print(f"  cpus: {os.cpu_count()}, workers: {self.o.workers}, worker logs: {self.log_dir}")
        print(f"  instances created: {len(self.expects)}")
        for name in sorted(t):
            print(f"  {name}: {t[name]}")
        print(f"  events acknowledged (unique ids): {acked}")
        print(f"  lost: {len(lost_instances)} instance(s), {len(lost_events)} event(s)")
        unexpected = len(self.stats.unexpected)
        print(f"  invariant problems: {len(problems)}; unexpected errors: {unexpected}")
        for line in (problems + self.stats.unexpected)[:50]:
            print(f"    {line}")


def parse(argv: list[str]) -> Options:
    parser = argparse.ArgumentParser(prog="scripts/soak", description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="load phase (default 10)")
    parser.add_argument("--workers", type=int, default=3, help="worker processes (default 3)")
    parser.add_argument("--rate", type=float, default=6.0, help="instances created per second")
    parser.add_argument("--redis-every", type=float, default=45.0, help="seconds between restarts")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: random)")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else int.from_bytes(os.urandom(4), "big")
    return Options(
        minutes=args.minutes,
        workers=args.workers,
        rate=args.rate,
        redis_every=args.redis_every,
        seed=seed,
    )


def main(argv: list[str] | None = None) -> int:
    options = parse(sys.argv[1:] if argv is None else argv)
    print(f"soak: {options.minutes} min, seed {options.seed}", flush=True)
    return asyncio.run(Soak(options).run())


if __name__ == "__main__":
    sys.exit(main())
