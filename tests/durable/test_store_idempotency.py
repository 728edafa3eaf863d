"""Idempotency keys in the Lua scripts against a real Redis: the answer is kept with the effect."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from durable import NonRetryableError, keys, workflow
from durable.client import IDEMPOTENCY_TTL_MS, Client
from durable.records import StepRecord, dumps
from durable.replies import Controlled, NotErrored, Recalled, Reopened, Restarted, Terminal
from durable.store import Ref
from durable.workflow import RegistryLike
from tests.helpers import reply, space_of

TTL = IDEMPOTENCY_TTL_MS


def _fail() -> None:
    raise NonRetryableError("no")


@workflow("doomed")
async def doomed(event: Any, step: Any) -> None:
    await step.do("fails", _fail)


async def test_create_with_a_key_reports_created_to_that_key_only(
    client_factory: Callable[[RegistryLike], Client],
) -> None:
    store = client_factory([doomed]).store
    ref = Ref("doomed", "c1")
    results = [
        await store.create(ref, params="{}", idempotency_key="key-1"),
        await store.create(ref, params="{}", idempotency_key="key-1"),
        await store.create(ref, params="{}", idempotency_key="key-2"),
        await store.create(ref, params="{}", idempotency_key=""),
        await store.create(ref, params="{}"),
    ]
    assert [r.created for r in results] == [True, True, False, False, False]


async def test_restart_and_terminate_keep_their_answer_beside_the_effect(
    client_factory: Callable[[RegistryLike], Client],
) -> None:
    client = client_factory([doomed])
    ref = Ref("doomed", "c2")
    await client.create("doomed", instance_id="c2")
    store = client.store
    # a different request token each time: only the key makes the calls the same
    assert await store.restart(ref, token="t1", idempotency_key="k", answer_ttl_ms=TTL) == (
        Restarted(1)
    )
    assert await store.restart(ref, token="t2", idempotency_key="k", answer_ttl_ms=TTL) == (
        Restarted(1)
    )
    assert await store.remembered(ref, "restart", "k") == "1"
    for token in ("t3", "t4"):
        answer = await store.terminate(ref, token=token, idempotency_key="k", answer_ttl_ms=TTL)
        assert answer == Controlled("queued")
    again = await store.terminate(ref, token="t5", idempotency_key="other", answer_ttl_ms=TTL)
    assert again == Terminal("terminated")
    assert (await client.get("doomed", "c2")).details.run_number == 1


async def test_two_racing_retry_step_calls_with_one_key_reopen_the_step_once(
    client_factory: Callable[[RegistryLike], Client],
) -> None:
    """Both calls read the errored step before either ran the script (the client's own check
    cannot see the other call): the script itself answers the second one."""
    client = client_factory([doomed])
    await client.create("doomed", instance_id="c3")
    await client.tick()
    ref = Ref("doomed", "c3")
    steps = keys.steps_key(await space_of(client, "doomed", "c3"), "doomed", "c3", 0)
    raw = (await reply(client.redis.hget(steps, "fails"))).decode()
    head = StepRecord.decode(raw).reopened().retry_head()
    answer = dumps({"r": 0, "k": "fails", "a": 1, "m": 2})[:-1]
    args = {"key": "fails", "expected": raw, "head": head, "delay_ms": 0, "answer": answer}
    first = await client.store.retry_step(ref, **args, idempotency_key="race", answer_ttl_ms=TTL)
    second = await client.store.retry_step(ref, **args, idempotency_key="race", answer_ttl_ms=TTL)
    assert isinstance(first, Reopened) and isinstance(second, Recalled)
    assert json.loads(second.answer) == {"r": 0, "k": "fails", "a": 1, "m": 2, "at": first.at_ms}
    other = await client.store.retry_step(ref, **args, idempotency_key="other", answer_ttl_ms=TTL)
    assert other == NotErrored("waiting")
    assert json.loads(await reply(client.redis.hget(steps, "fails")))["m"] == 2
