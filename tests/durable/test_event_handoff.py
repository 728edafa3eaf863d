"""An event completes the wait it is for as it is stored (send_event), when the instance waits on
that one wait_for_event step: the worker woken goes straight on. Everywhere else the worker's
wait_event call decides, as before. Runs with the in-process runner tick, so what the send alone
did is seen before any execution."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from durable import WaitForEventTimeoutError, workflow
from durable.client import Client
from tests.conftest import ClientFactory

pytestmark = pytest.mark.timeout(60)


@workflow("handoff.one")
async def one_wait(event: Any, step: Any) -> Any:
    got = await step.wait_for_event("wait", type="go", timeout="1 h")
    after = await step.do("after", lambda: "ran")
    return [got.payload, after]


@workflow("handoff.two")
async def two_waits(event: Any, step: Any) -> Any:
    first, second = await asyncio.gather(
        step.wait_for_event("first", type="item", timeout="1 h"),
        step.wait_for_event("second", type="item", timeout="1 h"),
    )
    return [first.payload, second.payload]


@workflow("handoff.short")
async def short_wait(event: Any, step: Any) -> Any:
    try:
        await step.wait_for_event("wait", type="go", timeout="300 ms")
    except WaitForEventTimeoutError:
        return "timed out"
    return "got it"


async def steps_of(client: Client, wf: str, iid: str) -> dict[str, str]:
    history = await client.history(wf, iid, order="asc")
    return {step.step_key: step.status for step in history.steps}


async def consumers(client: Client, wf: str, iid: str) -> list[str | None]:
    history = await client.history(wf, iid, order="asc")
    return [event.consumed_by_step_key for event in history.events]


async def waiting(client: Client, wf: str, iid: str) -> None:
    await client.create(wf, instance_id=iid)
    await client.tick()
    assert (await client.get(wf, iid)).details.status == "waiting"


async def test_the_event_completes_the_only_wait_as_it_is_stored(
    client_factory: ClientFactory,
) -> None:
    client = client_factory([one_wait])
    await waiting(client, "handoff.one", "h1")
    await client.send_event("handoff.one", "h1", type="go", payload={"n": 1})
    # no execution has run since: the send completed the step
    assert await steps_of(client, "handoff.one", "h1") == {"wait": "completed"}
    assert await consumers(client, "handoff.one", "h1") == ["wait"]
    assert (await client.get("handoff.one", "h1")).details.status == "queued"
    await client.tick()
    got = await client.get("handoff.one", "h1")
    assert (got.details.status, got.details.output) == ("complete", [{"n": 1}, "ran"])


async def test_another_type_leaves_the_wait_waiting(client_factory: ClientFactory) -> None:
    client = client_factory([one_wait])
    await waiting(client, "handoff.one", "h2")
    await client.send_event("handoff.one", "h2", type="other", payload=1)
    assert await steps_of(client, "handoff.one", "h2") == {"wait": "waiting"}
    await client.tick()
    assert (await client.get("handoff.one", "h2")).details.status == "waiting"
    await client.send_event("handoff.one", "h2", type="go", payload=2)
    assert await consumers(client, "handoff.one", "h2") == [None, "wait"]


async def test_two_waits_are_left_to_the_replay_in_step_order(
    client_factory: ClientFactory,
) -> None:
    client = client_factory([two_waits])
    await waiting(client, "handoff.two", "t1")
    await client.send_event("handoff.two", "t1", type="item", payload="a")
    assert await steps_of(client, "handoff.two", "t1") == {"first": "waiting", "second": "waiting"}
    await client.tick()
    assert await steps_of(client, "handoff.two", "t1") == {
        "first": "completed",
        "second": "waiting",
    }
    # one wait left, alone now: the next event completes it as it is stored
    await client.send_event("handoff.two", "t1", type="item", payload="b")
    assert await consumers(client, "handoff.two", "t1") == ["first", "second"]
    await client.tick()
    assert (await client.get("handoff.two", "t1")).details.output == ["a", "b"]


async def test_an_event_after_the_deadline_is_not_taken(client_factory: ClientFactory) -> None:
    client = client_factory([short_wait])
    await waiting(client, "handoff.short", "s1")
    await asyncio.sleep(0.4)  # past the wait's deadline, before any worker times it out
    await client.send_event("handoff.short", "s1", type="go")
    assert await steps_of(client, "handoff.short", "s1") == {"wait": "waiting"}
    await client.tick()
    got = await client.get("handoff.short", "s1")
    assert (got.details.status, got.details.output) == ("complete", "timed out")
    assert await consumers(client, "handoff.short", "s1") == [None]
