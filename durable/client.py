"""The control plane: create, inspect and control instances. The HTTP API speaks through it.

Each method validates its arguments, makes its store calls (durable.store, durable.listing,
durable.history) and returns models of durable.models, the ones the HTTP API serves; errors
are the ClientError tree.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, NoReturn

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import BusyLoadingError, ConnectionError, TimeoutError

from durable import (
    bulk,
    children,
    gate,
    listing,
    retry_step,
    schedules,
    tracing,
    validation,
    views,
)
from durable.cluster import AnyRedis
from durable.durations import Duration, to_ms
from durable.errors import (
    FailedStepNotRetryableError,
    InstanceNotErroredError,
    InstanceNotFoundError,
    InstanceTerminalError,
    InstanceWaitTimeoutError,
    InvalidDurationError,
    StoreUnavailableError,
    ValidationError,
    WorkflowNotFoundError,
)
from durable.history import LogFilter, read_history
from durable.models import (
    BulkResult,
    Details,
    EventAccepted,
    History,
    Instance,
    InstancePage,
    InstanceSummary,
    QueueDepth,
    RetryAccepted,
    ScheduleEntry,
    ScheduleList,
    WorkflowSummary,
)
from durable.records import EventRecord, InstanceRecord, StepRecord
from durable.replies import Conflict, NotErrored, NotFound, Recalled, Terminal
from durable.runner import Runner
from durable.settings import Settings
from durable.store import IdempotentOp, Ref, Store
from durable.types import TERMINAL_STATUSES, JSONDict
from durable.workflow import Registry, RegistryLike, Workflow, as_registry

BATCH_LIMIT = 1000
# How long restart, terminate and retry-step remember the answer to an Idempotency-Key: far
# longer than any client's retries of one call.
IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000


STORE_TIMEOUT_S = 5.0


@contextlib.asynccontextmanager
async def _store_errors(timeout_s: float | None = STORE_TIMEOUT_S) -> AsyncIterator[None]:
    """Redis trouble becomes StoreUnavailableError, within a bounded time even when Redis is
    frozen or the network drops packets (a hung call would otherwise hang its HTTP request)."""
    try:
        async with asyncio.timeout(timeout_s):
            yield
    except (ConnectionError, TimeoutError, BusyLoadingError, OSError) as exc:
        raise StoreUnavailableError() from exc


def connect(settings: Settings) -> Redis:
    """A pool that retries a command briefly on a dropped connection (a Redis restart), then
    gives up quickly so API callers get a 503 instead of a hang. When it turns out to speak to
    a Redis Cluster node, the store swaps it for a cluster client on first use (Store.open)."""
    return Redis.from_url(  # type: ignore[no-any-return]
        settings.redis_url,
        socket_timeout=5,
        socket_connect_timeout=2,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=3),
        retry_on_error=[ConnectionError, TimeoutError],
    )


class Client:
    def __init__(
        self,
        workflows: RegistryLike,
        settings: Settings | None = None,
        *,
        redis: Redis | None = None,
    ) -> None:
        self.registry: Registry = as_registry(workflows)
        self.settings = settings or Settings.from_env()
        self._owns_redis = redis is None
        self._redis = redis if redis is not None else connect(self.settings)
        self.store = Store(self._redis, self.settings)
        self._runner: Runner | None = None

    @property
    def redis(self) -> AnyRedis:
        """The Redis client in use: on a Redis Cluster, once open, the cluster client."""
        return self.store.redis

    async def open(self) -> None:
        """Reach Redis and read the partition layout now rather than on the first call.
        Raises PartitionsError when this process's partitions disagree with Redis."""
        async with _store_errors():
            await self.store.open()

    async def aclose(self) -> None:
        await self.store.aclose()
        if self._owns_redis:
            await self._redis.aclose()

    async def ping(self) -> None:
        async with _store_errors():
            await self.redis.ping()

    def list_workflows(self) -> list[WorkflowSummary]:
        return [WorkflowSummary(name=name) for name in self.registry]

    def _workflow(self, name: str) -> Workflow:
        try:
            return self.registry[name]
        except KeyError:
            raise WorkflowNotFoundError(name) from None

    def _ref(self, workflow: str, instance_id: str) -> Ref:
        self._workflow(workflow)
        return Ref(workflow, validation.instance_id(instance_id))

    # -- create --------------------------------------------------------------------------------

    def _prepare(self, workflow: Workflow, instance_id: str | None, params: Any) -> tuple[Ref, str]:
        iid = validation.instance_id(instance_id) if instance_id is not None else _new_id()
        value = validation.params(workflow, params)
        limit = self.settings.max_payload_bytes
        return Ref(workflow.name, iid), validation.sized_json(value, "params", limit)

    async def create(
        self,
        workflow: str,
        *,
        instance_id: str | None = None,
        params: Any = None,
        idempotency_key: str | None = None,
    ) -> tuple[InstanceSummary, bool]:
        """Create an instance; an existing id returns the existing instance and False.

        With an `idempotency_key` and no id, the id is derived from the workflow and the key, so
        a retried call finds the instance the first one made; an instance made with the key
        reports True again."""
        wf = self._workflow(workflow)
        key = validation.idempotency_key(idempotency_key)
        iid = keyed_id(wf.name, key) if instance_id is None and key is not None else instance_id
        ref, encoded = self._prepare(wf, iid, params)
        async with _store_errors():
            made = await self.store.create(
                ref, params=encoded, idempotency_key=key or "", version=wf.version or "",
                traceparent=tracing.traceparent(),
            )  # fmt: skip
        # a generated id is new: "exists" can only be our own create retried after a lost reply
        created = made.created or iid is None
        return _summary(ref, made.instance), created

    async def create_batch(self, workflow: str, items: list[JSONDict]) -> list[InstanceSummary]:
        """Create the items' instances (`{"id"?, "params"?}`); returns the created ones."""
        wf = self._workflow(workflow)
        if len(items) > BATCH_LIMIT:
            raise ValidationError(f"a batch holds at most {BATCH_LIMIT} instances")
        prepared = [self._prepare(wf, item.get("id"), item.get("params")) for item in items]
        async with _store_errors():
            results = await self.store.create_many(
                prepared, version=wf.version or "", traceparent=tracing.traceparent()
            )
        return [
            _summary(ref, made.instance)
            for (ref, _), made in zip(prepared, results, strict=True)
            if made.created
        ]

    # -- read ----------------------------------------------------------------------------------

    async def _read(self, ref: Ref) -> tuple[InstanceRecord, str]:
        """The instance and the raw record of its current step ('' when none)."""
        async with _store_errors():
            snapshot = await self.store.read(ref)
        if isinstance(snapshot, NotFound):
            raise InstanceNotFoundError(ref.workflow, ref.instance_id)
        return InstanceRecord.decode(snapshot.instance), snapshot.current_step

    async def get(self, workflow: str, instance_id: str) -> Instance:
        ref = self._ref(workflow, instance_id)
        inst, raw = await self._read(ref)
        cur = inst.current_step
        current = views.current_step_to_api(cur, StepRecord.decode(raw)) if cur and raw else None
        return Instance.model_validate(
            {
                "id": ref.instance_id,
                "details": views.details(inst),
                "meta": views.meta(inst, current),
            }
        )

    async def list_instances(
        self,
        workflow: str,
        *,
        status: str | None = None,
        page_size: int = 25,
        cursor: str | None = None,
        version: str | None = None,
    ) -> InstancePage:
        """Newest first. `cursor` and `next_cursor` both carry the next page's cursor and are
        None on the last page. `status="waitingForPause"` lists running instances whose pause
        is requested but not yet taken (their `details.status` stays `running`). `version`
        keeps the instances created by that code version of the workflow."""
        self._workflow(workflow)
        query = listing.query(workflow, status, version, page_size, cursor)
        async with _store_errors():
            return await listing.page(self.store, query)

    async def history(
        self,
        workflow: str,
        instance_id: str,
        *,
        run_number: int | None = None,
        page_size: int = 25,
        order: str = "desc",
        include_logs: bool = False,
        steps_cursor: str | None = None,
        events_cursor: str | None = None,
        logs_cursor: str | None = None,
        log_level: str | None = None,
        log_category: str | None = None,
    ) -> History:
        ref = self._ref(workflow, instance_id)
        size, direction = validation.page_size(page_size), validation.order(order)
        log_filter = LogFilter.of(log_level, log_category)
        inst, _ = await self._read(ref)
        run = _run_number(run_number, inst.run)
        cursors = {"steps": steps_cursor, "events": events_cursor, "logs": logs_cursor}
        async with _store_errors():
            page = await read_history(
                self.redis, self.store.space(ref), ref, run, size, direction, include_logs,
                cursors, log_filter,
            )  # fmt: skip
        return History.model_validate(page)

    # -- events and control --------------------------------------------------------------------

    async def send_event(
        self,
        workflow: str,
        instance_id: str,
        *,
        type: str,
        payload: Any = None,
        event_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> EventAccepted:
        """Store an event; without an `event_id`, the `idempotency_key` is the event's id."""
        ref = self._ref(workflow, instance_id)
        etype = validation.event_type(type)
        key = validation.idempotency_key(idempotency_key)
        # every event gets an id before it is sent, so a retried send stores nothing new
        if event_id is not None:
            eid = validation.event_id(event_id)
        else:
            eid = key if key is not None else f"evt_{uuid.uuid4().hex}"
        body = validation.sized_json(payload, "event payload", self.settings.max_payload_bytes)
        head = EventRecord.head(eid, etype)
        async with _store_errors():
            reply = await self.store.send_event(
                ref, head=head, payload=body, event_id=eid, traceparent=tracing.traceparent()
            )
        if isinstance(reply, NotFound | Terminal):
            _missing(ref, reply)
        status = Details.model_validate(views.details(InstanceRecord.decode(reply.before)))
        return EventAccepted(accepted=True, status=status)

    async def _control(
        self,
        workflow: str,
        instance_id: str,
        idempotency_key: str | None,
        act: Callable[[Ref, str, str], Awaitable[object]],
    ) -> None:
        """Run `act(ref, request token, idempotency key or '')`; the token makes a retried
        terminate or restart answer like the first call."""
        ref = self._ref(workflow, instance_id)
        key = validation.idempotency_key(idempotency_key) or ""
        async with _store_errors():
            reply = await act(ref, uuid.uuid4().hex, key)
        if isinstance(reply, NotFound | Terminal):
            _missing(ref, reply)
        await children.after_control(self.store, reply)  # children to stop, a parent to tell

    async def pause(
        self, workflow: str, instance_id: str, *, idempotency_key: str | None = None
    ) -> None:
        await self._control(
            workflow, instance_id, idempotency_key, lambda ref, _token, _key: self.store.pause(ref)
        )

    async def resume(
        self, workflow: str, instance_id: str, *, idempotency_key: str | None = None
    ) -> None:
        await self._control(
            workflow, instance_id, idempotency_key, lambda ref, _token, _key: self.store.resume(ref)
        )

    async def terminate(
        self, workflow: str, instance_id: str, *, idempotency_key: str | None = None
    ) -> None:
        """A call repeated with the same key within a day answers like the first one."""
        await self._control(
            workflow, instance_id, idempotency_key,
            lambda ref, token, key: self.store.terminate(
                ref, token=token, idempotency_key=key, answer_ttl_ms=IDEMPOTENCY_TTL_MS
            ),
        )  # fmt: skip
        await self._leave_gate(workflow, instance_id)

    async def restart(
        self, workflow: str, instance_id: str, *, idempotency_key: str | None = None
    ) -> None:
        """A call repeated with the same key within a day starts no second run."""
        await self._control(
            workflow, instance_id, idempotency_key,
            lambda ref, token, key: self.store.restart(
                ref, token=token, idempotency_key=key, answer_ttl_ms=IDEMPOTENCY_TTL_MS
            ),
        )  # fmt: skip
        await self._leave_gate(workflow, instance_id)

    async def _leave_gate(self, workflow: str, instance_id: str) -> None:
        """The runs a terminate or restart ended leave their gate (workflows with limits)."""
        async with _store_errors():
            await gate.reconcile(self.store, Ref(workflow, instance_id))

    async def retry_failed_step(
        self,
        workflow: str,
        instance_id: str,
        *,
        delay_ms: int = 0,
        idempotency_key: str | None = None,
    ) -> RetryAccepted:
        """Re-open the errored last step; a call repeated with the same key within a day
        re-opens nothing and answers the first call's body. A run that failed with
        NondeterminismError is queued to replay its recorded steps instead (after a fix)."""
        ref = self._ref(workflow, instance_id)
        if isinstance(delay_ms, bool) or not isinstance(delay_ms, int) or delay_ms < 0:
            raise ValidationError("delayMs must be a non-negative integer of milliseconds")
        key = validation.idempotency_key(idempotency_key)
        inst, raw = await self._read(ref)
        if key is not None and (saved := await self._recall(ref, "retry-step", key)):
            return retry_step.accepted(ref, saved)
        plan = retry_step.plan(ref, inst, raw, delay_ms)
        async with _store_errors():
            reply = await self.store.retry_step(
                ref, key=plan.step_key, expected=plan.expected, head=plan.head,
                delay_ms=delay_ms, answer=plan.answer_head,
                idempotency_key=key or "", answer_ttl_ms=IDEMPOTENCY_TTL_MS,
            )  # fmt: skip
        if isinstance(reply, NotFound):
            _missing(ref, reply)
        if isinstance(reply, NotErrored):
            raise InstanceNotErroredError(ref.instance_id, reply.status)
        if isinstance(reply, Conflict):
            raise FailedStepNotRetryableError("the instance changed meanwhile; try again")
        if isinstance(reply, Recalled):
            return retry_step.accepted(ref, json.loads(reply.answer))
        return retry_step.accepted(ref, {**plan.answer, "at": reply.at_ms})

    async def _recall(self, ref: Ref, op: IdempotentOp, key: str) -> JSONDict | None:
        """The answer remembered for an operation's idempotency key, if any."""
        async with _store_errors():
            raw = await self.store.remembered(ref, op, key)
        return None if raw is None else dict(json.loads(raw))

    # -- in-process runner ---------------------------------------------------------------------

    async def tick(self, *, max_instances: int = 10, max_steps: int = 100) -> int:
        """Advance due instances inside this process (Runner.tick; the API's runner tick)."""
        self._runner = self._runner or Runner(self.store, self.registry)
        async with _store_errors(timeout_s=None):  # runs workflow code: no overall bound
            return await self._runner.tick(max_instances=max_instances, max_steps=max_steps)

    # -- counts --------------------------------------------------------------------------------

    async def counts(self, workflow: str) -> dict[str, int]:
        """How many instances of `workflow` are in each status (every status is a key), read
        from the status indexes (of every partition) in one round trip."""
        self._workflow(workflow)
        async with _store_errors():
            return await listing.counts(self.store, workflow)

    async def counts_by_workflow(self) -> dict[str, dict[str, int]]:
        """`counts` of every registered workflow, in one round trip."""
        async with _store_errors():
            return await listing.counts_by_workflow(self.store, list(self.registry))

    async def queue_depth(self, *, now_ms: int | None = None) -> QueueDepth:
        """How many wake-ups are due now (queued instances, fired timers no worker has
        started) and how many later (sleeps, retry backoffs, event-wait deadlines)."""
        async with _store_errors():
            due, later = await listing.queue_depth(self.store, now_ms)
        return QueueDepth(due=due, scheduled=later)

    # -- schedules (durable.schedules) ---------------------------------------------------------

    async def create_schedule(
        self,
        workflow: str,
        schedule_id: str,
        *,
        cron: str | None = None,
        every: Duration | None = None,
        params: Any = None,
        timezone: str = "UTC",
        overlap: str = "skip",
        catchup: str = "latest",
        paused: bool = False,
    ) -> tuple[ScheduleEntry, bool]:
        """Create a schedule of `workflow` (cron or every), or update the one with this id to
        this definition; True when a schedule was made. See docs/semantics.md, "Schedules"."""
        if every is not None and not isinstance(every, str | int | float):
            every = to_ms(every)  # a timedelta
        values = {
            "id": schedule_id, "cron": cron, "every": every, "params": params,
            "timezone": timezone, "overlap": overlap, "catchup": catchup, "paused": paused,
        }  # fmt: skip
        async with _store_errors():
            return await schedules.create(self, workflow, values)

    async def get_schedule(self, workflow: str, schedule_id: str) -> ScheduleEntry:
        async with _store_errors():
            return await schedules.get(self, workflow, schedule_id)

    async def list_schedules(self, workflow: str) -> ScheduleList:
        async with _store_errors():
            return await schedules.list_all(self, workflow)

    async def delete_schedule(self, workflow: str, schedule_id: str) -> None:
        """The schedule starts nothing more; instances it started carry on."""
        async with _store_errors():
            await schedules.delete(self, workflow, schedule_id)

    async def pause_schedule(self, workflow: str, schedule_id: str) -> ScheduleEntry:
        async with _store_errors():
            return await schedules.pause(self, workflow, schedule_id)

    async def resume_schedule(self, workflow: str, schedule_id: str) -> ScheduleEntry:
        """Resume; ticks missed while paused start as the schedule's catchup says."""
        async with _store_errors():
            return await schedules.resume(self, workflow, schedule_id)

    async def trigger_schedule(
        self, workflow: str, schedule_id: str, *, idempotency_key: str | None = None
    ) -> None:
        """Start the schedule's workflow now (by its overlap policy)."""
        async with _store_errors():
            await schedules.trigger(self, workflow, schedule_id, idempotency_key=idempotency_key)

    async def ensure_schedules(self) -> int:
        """Make the schedules declared in the registry exist, as declared (each failure is
        logged); returns how many were created. Workers and the API call it at start-up."""
        async with _store_errors(timeout_s=None):
            return await schedules.ensure_declared(self)

    # -- bulk control (durable.bulk) -----------------------------------------------------------

    async def bulk(
        self,
        workflow: str,
        action: str,
        *,
        status: str | None = None,
        ids: list[str] | None = None,
        delay_ms: int = 0,
        idempotency_key: str | None = None,
    ) -> BulkResult:
        """Terminate, restart or retry-step ("retry-step", with `delay_ms`) every instance of
        `workflow` in `status` and/or among `ids`; see durable.bulk for the counts."""
        async with _store_errors(timeout_s=None):
            return await bulk.run(
                self, workflow, action, status=status, ids=ids, delay_ms=delay_ms,
                idempotency_key=idempotency_key,
            )  # fmt: skip

    # -- waiting -------------------------------------------------------------------------------

    async def wait(
        self,
        workflow: str,
        instance_id: str,
        *,
        timeout: Duration | None = "1 min",
        poll_interval: Duration = "100 ms",
    ) -> Instance:
        """Poll `get` until the instance is complete, errored or terminated; return that answer.

        Raises InstanceWaitTimeoutError (a TimeoutError) when `timeout` passes first; `None`
        waits without limit. Waiting never changes the instance.
        """
        limit_ms = None if timeout is None else to_ms(timeout)
        interval_s = to_ms(poll_interval) / 1000
        if interval_s <= 0:
            raise InvalidDurationError(poll_interval, "the poll interval must be at least 1 ms")
        loop = asyncio.get_running_loop()
        started = loop.time()
        while True:
            answer = await self.get(workflow, instance_id)
            status = answer.details.status
            if status in TERMINAL_STATUSES:
                return answer
            waited_s = loop.time() - started
            if limit_ms is not None and waited_s * 1000 >= limit_ms:
                raise InstanceWaitTimeoutError(workflow, instance_id, status, limit_ms)
            left_s = interval_s if limit_ms is None else limit_ms / 1000 - waited_s
            await asyncio.sleep(min(interval_s, left_s))


def _missing(ref: Ref, reply: NotFound | Terminal) -> NoReturn:
    """A script found no such instance, or one that already ended."""
    if isinstance(reply, Terminal):
        raise InstanceTerminalError(ref.instance_id, reply.status)
    raise InstanceNotFoundError(ref.workflow, ref.instance_id)


def _summary(ref: Ref, fields: dict[str, str]) -> InstanceSummary:
    details = views.details(InstanceRecord.decode(fields))
    return InstanceSummary(id=ref.instance_id, details=Details.model_validate(details))


def _run_number(value: Any, current: int) -> int:
    """A history's run: the current one by default, else an existing one."""
    run = current if value is None else value
    if isinstance(run, bool) or not isinstance(run, int) or not 0 <= run <= current:
        raise ValidationError(
            f"runNumber must be an existing run (0-{current})",
            [{"path": "runNumber", "message": "no such run"}],
        )
    return run


def _new_id() -> str:
    return f"inst_{uuid.uuid4().hex}"


def keyed_id(workflow: str, idempotency_key: str) -> str:
    """The id a create with this key and no id gets: the same for every retry of the call."""
    digest = hashlib.sha256(f"{workflow}\n{idempotency_key}".encode()).hexdigest()
    return f"inst_{digest[:32]}"
