"""arq's Worker, taking durable's work with one script and waiting for it without polling.

Stock arq polls its queue (every `poll_delay`), claims each job with WATCH, EXISTS, ZSCORE and
MULTI/EXEC, reads the job, bumps a retry counter, runs the function and cleans up: six round
trips around durable's own scripts. `DurableWorker` keeps arq's worker (its options, signals,
health line, `arq.worker` logs and job format) and replaces the loop: one `take` script finds
the next due job, leases its instance and answers its steps; the runner runs it and its
`finish` or `release` script records the end. A 3-step workflow is 5 round trips.

When nothing is due the worker blocks on the wake marker (durable/worker/wake.py) until a
script signals new work, or until the next due time a take reported (a timer, a lease to
recover, retention to prune), whichever comes first. A job of another arq function found in the
queue is claimed the way arq claims it and run by arq's own `run_job`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import secrets
from collections.abc import Coroutine
from functools import partial
from signal import Signals
from typing import Any

from arq.connections import create_pool
from arq.worker import Worker
from arq.worker import logger as arq_log
from redis.asyncio import Redis
from redis.exceptions import RedisError

from durable import children, cluster, gate, observe
from durable.replies import ForeignJob, Leased, NothingDue, Reaped, Taken
from durable.runner import Runner
from durable.settings import Settings
from durable.store import Ref
from durable.worker.ahead import TakeAheads
from durable.worker.pipelining import NodePipelines, Pipelining
from durable.worker.serving import Listeners, Serving
from durable.worker.wake import Served, block_cap_s

log = logging.getLogger("durable.worker")

PUSH = "durable_push"  # ctx key: the worker takes work itself (no housekeeping loop needed)
# + owner: the client names of a worker's connections in CLIENT LIST (blocking; script calls)
WAITER_NAME = "durable-wait:"
WORKER_NAME = "durable-worker:"
# The most instances one take leases: a backlog is taken a few at a time (fewer calls), and
# shared out between the workers taking from it.
TAKE_MOST = 8
# A timer is taken this much before it is due, and its execution waits for the rest: the take's
# round trip then overlaps the wait instead of making the timer late.
TAKE_AHEAD_MS = 2


class DurableWorker(Worker):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ctx[PUSH] = True
        self._poke = asyncio.Event()
        self._tokens = (f"{secrets.token_hex(4)}.{n}" for n in itertools.count())
        self._ahead = TakeAheads(self._tokens, self._free_slots, self._poke.set)
        self._carrying: set[asyncio.Task[None]] = set()  # outbox entries being carried over

    async def main(self) -> None:
        """arq's start-up (pool, start-up lines, on_startup), then durable's loop."""
        if self._pool is None:
            self._pool = await create_pool(
                self.redis_settings,
                job_deserializer=self.job_deserializer,
                job_serializer=self.job_serializer,
                default_queue_name=self.queue_name,
                expires_extra_ms=self.expires_extra_ms,
            )
            # a Redis Cluster node: the pool speaks to the whole cluster instead
            settings = self.ctx.get("durable_settings") or Settings.from_env()
            self._pool = await cluster.arq_pool_for(self._pool, settings.redis_url)
        arq_log.info(
            "Starting worker for %d functions: %s", len(self.functions), ", ".join(self.functions)
        )
        await cluster.log_arq_info(self.pool, arq_log.info)
        self.ctx["redis"] = self.pool
        if self.on_startup:
            await self.on_startup(self.ctx)
        runner: Runner = self.ctx["durable_runner"]
        await runner.store.open()
        cap = block_cap_s(runner.store.settings.lease_ttl_ms)
        name = f"{WAITER_NAME}{runner.owner}"
        # the partitions this worker serves, and its listeners on their wake markers
        serving = Serving(
            runner.store, runner.owner, cap, self._poke.set, self._full, name, self._ahead
        )
        self._ahead.attach(runner.store, runner.owner, TAKE_AHEAD_MS, serving)
        served, listener = await serving.start()
        pipelining: Pipelining | NodePipelines
        if isinstance(runner.store.redis, Redis):  # see pipelining.py
            pipelining = Pipelining(self.pool.connection_pool, f"{WORKER_NAME}{runner.owner}")
        else:  # a Redis Cluster: a pipelined connection per node
            pipelining = NodePipelines(runner.store.redis, f"{WORKER_NAME}{runner.owner}")
        runner.store.caller = pipelining.call
        sweeper = gate.start_sweep(runner.store, runner.registry.values())
        try:
            await self._serve(runner, served, listener)
        finally:
            if sweeper is not None:
                sweeper.cancel()
            await serving.close()
            runner.store.caller = None
            await pipelining.close()

    async def _serve(self, runner: Runner, served: Served, listener: Listeners) -> None:
        """Take due work while there is a free slot and work is due in a partition served;
        otherwise wait for a slot, a wake-up or the next due time."""
        while self.allow_pick_jobs:
            self._poke.clear()
            self._took_ahead(runner, served)
            # arq's health line (a write every health_check_interval); its cron jobs, if any
            await (self.heart_beat() if self.cron_jobs else self.record_health())
            if self.job_counter >= self.max_jobs:
                await self._poke.wait()
                continue
            partition = served.next(self.loop.time())
            if partition is None:
                if self.burst and self._burst_over():
                    return
                await self._idle(served, listener)
                continue
            found = await self._take(runner, partition, served)
            if isinstance(found, Taken | NothingDue):
                self._plan(served, partition, found)
        await listener.close()
        await asyncio.Future()  # arq's signal handler cancels main once the running jobs end

    def _took_ahead(self, runner: Runner, served: Served) -> None:
        """Start what the takes sent behind blocks found (durable/worker/ahead.py)."""
        for partition, found in self._ahead.taken():
            self._took(runner, partition, served, found)
            if isinstance(found, Taken | NothingDue):
                self._plan(served, partition, found)

    async def _take(
        self, runner: Runner, partition: int, served: Served
    ) -> Taken | ForeignJob | NothingDue | None:
        """One take; what it found is running in a task already. None: Redis failed (the call
        retried with backoff already), so the next take comes after a pause."""
        settings = runner.store.settings
        count = min(self.max_jobs - self.job_counter, TAKE_MOST)
        # a take sent behind a block whose reply was lost is sent again with its token: it
        # answers the leases the first one took (take.lua's receipt)
        token = self._ahead.retakes.pop(partition, None) or next(self._tokens)
        try:
            found = await runner.store.take(
                owner=runner.owner, ttl_ms=settings.lease_ttl_ms, token=token,
                count=count, ahead_ms=TAKE_AHEAD_MS, partition=partition,
            )  # fmt: skip
        except (RedisError, OSError) as exc:
            log.warning("could not take work from redis, retrying in 1s: %s", exc)
            await asyncio.sleep(1.0)
            return None
        self._took(runner, partition, served, found)
        return found

    def _took(
        self, runner: Runner, partition: int, served: Served, found: Taken | ForeignJob | NothingDue
    ) -> None:
        """Start what a take found (in tasks), and what it swept up."""
        _housekeeping(found.reaped)
        if found.reaped.swept:  # outbox entries a crash left behind (durable/children.py)
            self._spawn_carry(runner, found.reaped.swept)
        if isinstance(found, Taken):
            for leased in found.leases:
                self._spawn(leased.job_id, partition, served, self._advance(runner, leased))
        elif isinstance(found, ForeignJob):
            self._spawn(found.job_id, partition, served, self.run_job(found.job_id, found.score))

    def _spawn_carry(self, runner: Runner, entries: tuple[str, ...]) -> None:
        task = self.loop.create_task(children.carry(runner.store, entries))
        self._carrying.add(task)
        task.add_done_callback(self._carrying.discard)

    def _plan(self, served: Served, partition: int, found: Taken | NothingDue) -> None:
        """When to take from a partition again, from what a take answered: at once when more
        is due; otherwise at the loop time of its next due job (TAKE_AHEAD_MS early: the take's
        round trip covers most of that) or chore, measured from Redis' clock as the take read
        it, or (none known) when a wake-up or the cap comes."""
        job = found.next_due_ms - TAKE_AHEAD_MS if found.next_due_ms >= 0 else -1
        dues = [due for due in (job, found.chores_due_ms) if due >= 0]
        if not dues:
            served.dry(partition, None)
        elif min(dues) > found.now_ms:
            served.dry(partition, self.loop.time() + (min(dues) - found.now_ms) / 1000)
        elif isinstance(found, NothingDue):
            # due work left to a plain arq worker, or more chores than one take does: soon again
            served.dry(partition, self.loop.time() + self.poll_delay_s)

    async def _idle(self, served: Served, listener: Listeners) -> None:
        """Block until poked (a wake-up or the cap, a job of ours ended, a signal) or until a
        partition's next due time."""
        # the listener pokes at its cap; twice that only guards against losing it
        timeout = 2 * listener.cap_s
        first = served.first_due()
        if first is not None:
            timeout = min(timeout, max(0.0, first - self.loop.time()))
        listener.arm()
        # a timer that pokes, not asyncio.wait_for: in Python 3.11 that can swallow the
        # cancellation of a shutdown arriving as the wait ends
        timer = self.loop.call_later(timeout, self._poke.set)
        try:
            await self._poke.wait()
        finally:
            timer.cancel()
        listener.disarm()

    def _spawn(
        self, job_id: str, partition: int, served: Served, work: Coroutine[Any, Any, None]
    ) -> None:
        self.job_counter += 1
        task = self.loop.create_task(work)
        self.tasks[job_id] = task
        task.add_done_callback(partial(self._ended, job_id, partition, served))

    def _ended(self, job_id: str, partition: int, served: Served, task: asyncio.Task[None]) -> None:
        """A job ended: its slot is free. What it scheduled signals the wake marker when it is
        due now (or the queue's new head), which the listener hears; a burst worker, which ends
        once nothing is due, looks at the partition again before it decides that."""
        if self.burst:
            served.wake(partition)
        self.job_counter -= 1
        self.tasks.pop(job_id, None)
        if task.cancelled():
            self.jobs_retried += 1
        elif task.exception() is not None:
            self.jobs_failed += 1
            log.error("job %s failed", job_id, exc_info=task.exception())
        else:
            self.jobs_complete += 1
        self._poke.set()

    async def _advance(self, runner: Runner, taken: Leased) -> None:
        """Run a taken instance. A cancellation (shutdown, once the grace period is over) ends
        the task normally: the runner has handed the instance over, and arq's close() gathers
        this task as it does its own jobs. When Redis fails for longer than the connection's
        retries ride out, the lease is left to expire: housekeeping recovers the instance."""
        ref = Ref(taken.workflow, taken.instance_id)
        with contextlib.suppress(asyncio.CancelledError):
            try:
                await runner.run_leased(ref, taken.job_id, taken.acquired)
            except (RedisError, OSError) as exc:
                log.warning("redis error advancing %s/%s: %s", ref.workflow, ref.instance_id, exc)

    def _free_slots(self) -> int:
        return max(0, self.max_jobs - self.job_counter) if self.allow_pick_jobs else 0

    def _full(self) -> bool:
        return self.job_counter >= self.max_jobs or not self.allow_pick_jobs

    def _burst_over(self) -> bool:
        """Burst mode ends once nothing is due and nothing of this worker's runs (whatever
        those runs schedule for now, a take finds before this is asked again)."""
        return not self.tasks or 0 <= self.max_burst_jobs <= self._jobs_started()

    def handle_sig_wait_for_completion(self, signum: Signals) -> None:
        super().handle_sig_wait_for_completion(signum)
        self._poke.set()  # stop taking at once, even from a block on the wake marker

    def handle_sig(self, signum: Signals) -> None:
        super().handle_sig(signum)
        self._poke.set()


def _housekeeping(reaped: Reaped) -> None:
    if reaped.recovered:
        observe.get().leases_recovered(reaped.recovered)
        log.info("recovered %d instance(s) from expired leases", reaped.recovered)
    if reaped.expired:
        log.debug("pruned %d expired instance(s) from indexes", reaped.expired)
