"""Client.list_instances: the next page's cursor in `cursor` and `nextCursor`, omitted on the last
page, and the `waitingForPause` filter, against real Redis with in-process arq workers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from durable import keys, workflow
from durable.client import Client
from durable.errors import InvalidCursorError, ValidationError
from durable.models import InstancePage
from tests.helpers import as_json, assert_eventually, space_of

pytestmark = pytest.mark.timeout(60)

gates: dict[str, asyncio.Event] = {}
entered: set[str] = set()


@workflow("gate")
async def gate(event: Any, step: Any) -> Any:
    """Blocks in its first step until the test opens the instance's gate."""
    iid = event.instance_id

    async def hold() -> str:
        entered.add(iid)
        await gates.setdefault(iid, asyncio.Event()).wait()
        return "held"

    await step.do("hold", hold)
    return await step.do("after", lambda: "done")


@workflow("idle")
async def idle(event: Any, step: Any) -> Any:
    return None


@pytest.fixture(autouse=True)
def _reset() -> Any:
    gates.clear()
    entered.clear()
    yield
    for event in gates.values():
        event.set()


async def all_pages(client: Client, wf: str, size: int, **query: Any) -> list[InstancePage]:
    """Walk the pages the way the original client does: send back the `cursor` it got."""
    pages = [await client.list_instances(wf, page_size=size, **query)]
    while pages[-1].has_next_page:
        pages.append(
            await client.list_instances(wf, page_size=size, cursor=pages[-1].cursor, **query)
        )
        assert len(pages) < 50
    return pages


def ids(pages: list[InstancePage]) -> list[str]:
    return [item.id for page in pages for item in page.instances]


async def test_cursor_is_the_next_page_and_is_omitted_on_the_last(client_factory: Any) -> None:
    client = client_factory([idle])
    for n in range(5):
        await client.create("idle", instance_id=f"i{n}")
    pages = await all_pages(client, "idle", 2)
    assert ids(pages) == ["i4", "i3", "i2", "i1", "i0"]
    assert [page.has_next_page for page in pages] == [True, True, False]
    for page in pages[:-1]:
        assert list(as_json(page)) == ["instances", "cursor", "nextCursor", "hasNextPage"]
        assert page.cursor == page.next_cursor and isinstance(page.cursor, str)
    assert pages[-1].cursor is None and pages[-1].next_cursor is None
    assert list(as_json(pages[-1])) == ["instances", "hasNextPage"]


async def test_a_single_page_has_no_cursor(client_factory: Any) -> None:
    client = client_factory([idle])
    empty = await client.list_instances("idle")
    assert as_json(empty) == {"instances": [], "hasNextPage": False}
    await client.create("idle", instance_id="only")
    page = await client.list_instances("idle", page_size=1)
    assert page.has_next_page is False and page.cursor is None and page.next_cursor is None


async def test_a_page_exactly_full_at_the_end_says_no_next_page(client_factory: Any) -> None:
    client = client_factory([idle])
    for n in range(4):
        await client.create("idle", instance_id=f"i{n}")
    pages = await all_pages(client, "idle", 2)
    assert [len(page.instances) for page in pages] == [2, 2]
    assert pages[-1].has_next_page is False


async def test_expired_instances_do_not_leave_holes_in_a_page(
    client_factory: Any, redis: Any, settings: Any
) -> None:
    client = client_factory([idle])
    for n in range(5):
        await client.create("idle", instance_id=f"i{n}")
    # an index entry whose instance is gone (expired, not yet cleaned up) is skipped
    await redis.delete(keys.instance_key(await space_of(client, "idle", "i3"), "idle", "i3"))
    pages = await all_pages(client, "idle", 2)
    assert [[item.id for item in page.instances] for page in pages] == [
        ["i4", "i2"],
        ["i1", "i0"],
    ]


@pytest.mark.parametrize("cursor", ["null", "undefined", "garbage!"])
async def test_a_cursor_not_from_the_api_is_invalid(client_factory: Any, cursor: str) -> None:
    client = client_factory([idle])
    with pytest.raises(InvalidCursorError) as info:
        await client.list_instances("idle", cursor=cursor)
    assert info.value.issues[0]["path"] == "cursor"


@pytest.mark.parametrize("status", ["unknown", "WaitingForPause", "waiting_for_pause", ""])
async def test_other_status_values_are_rejected(client_factory: Any, status: str) -> None:
    client = client_factory([idle])
    with pytest.raises(ValidationError) as info:
        await client.list_instances("idle", status=status)
    assert "waitingForPause" in info.value.message


async def test_waiting_for_pause_lists_running_instances_with_a_pause_requested(
    workers: Any, client_factory: Any
) -> None:
    await workers.start([gate])
    client = client_factory([gate])
    for iid in ("a", "b", "c"):
        await client.create("gate", instance_id=iid)
    await assert_eventually(lambda: _async(entered == {"a", "b", "c"}))
    await client.pause("gate", "a")
    await client.pause("gate", "c")

    pausing = await all_pages(client, "gate", 1, status="waitingForPause")
    assert ids(pausing) == ["c", "a"]
    assert all(item.details.status == "running" for p in pausing for item in p.instances)
    assert sorted(ids(await all_pages(client, "gate", 10, status="running"))) == ["a", "b", "c"]

    gates["a"].set()
    await assert_eventually(lambda: _status_is(client, "a", "paused"))
    assert ids(await all_pages(client, "gate", 10, status="waitingForPause")) == ["c"]
    assert ids(await all_pages(client, "gate", 10, status="paused")) == ["a"]


async def _async(value: Any) -> Any:
    return value


async def _status_is(client: Client, iid: str, status: str) -> bool:
    got = await client.get("gate", iid)
    return bool(got.details.status == status)
