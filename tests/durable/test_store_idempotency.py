"""Idempotency keys in the Lua scripts against a real Redis: the answer is kept with the effect."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from durable import NonRetryableError, keys, workflow
from durable.client import IDEMPOTENCY_TTL_MS, Client
from durable.records import dumps, encode_step
from durable.store import Ref
from durable.workflow import RegistryLike

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
        await store.call("create", ref, "{}", "key-1"),
        await store.call("create", ref, "{}", "key-1"),
        await store.call("create", ref, "{}", "key-2"),
        await store.call("create", ref, "{}", ""),
        await store.call("create", ref, "{}"),
    ]
    assert [r[0] for r in results] == [1, 1, 0, 0, 0]


async def test_restart_and_terminate_keep_their_answer_beside_the_effect(
    client_factory: Callable[[RegistryLike], Client],
) -> None:
    client = client_factory([doomed])
    ref = Ref("doomed", "c2")
    await client.create("doomed", instance_id="c2")
    # a different request token each time: only the key makes the calls the same
    assert await client.store.call("restart", ref, "t1", "k", TTL) == ["ok", 1]
    assert await client.store.call("restart", ref, "t2", "k", TTL) == ["ok", "1"]
    assert await client.store.call("terminate", ref, "t3", "k", TTL) == ["ok", "queued"]
    assert await client.store.call("terminate", ref, "t4", "k", TTL) == ["ok", "queued"]
    assert await client.store.call("terminate", ref, "t5", "other", TTL) == [
        "terminal",
        "terminated",
    ]
    assert (await client.get("doomed", "c2"))["details"]["runNumber"] == 1


async def test_two_racing_retry_step_calls_with_one_key_reopen_the_step_once(
    client_factory: Callable[[RegistryLike], Client],
) -> None:
    """Both calls read the errored step before either ran the script (the client's own check
    cannot see the other call): the script itself answers the second one."""
    client = client_factory([doomed])
    await client.create("doomed", instance_id="c3")
    await client.tick()
    ref = Ref("doomed", "c3")
    steps = keys.steps_key(client.settings.prefix, "doomed", "c3", 0)
    raw = (await client.redis.hget(steps, "fails")).decode()
    reopened = {**json.loads(raw), "s": "waiting", "m": 2}
    head = encode_step(reopened)[:-1]
    answer = dumps({"r": 0, "k": "fails", "a": 1, "m": 2})[:-1]
    args = ("fails", raw, head, 0, "race", TTL, answer)
    first = await client.store.call("retry_step", ref, *args)
    second = await client.store.call("retry_step", ref, *args)
    assert first[0] == "ok"
    assert second[0] == "again"
    assert json.loads(second[1]) == {"r": 0, "k": "fails", "a": 1, "m": 2, "at": first[2]}
    other = await client.store.call("retry_step", ref, *args[:4], "other", TTL, answer)
    assert other == ["not_errored", "waiting"]
    assert json.loads(await client.redis.hget(steps, "fails"))["m"] == 2
