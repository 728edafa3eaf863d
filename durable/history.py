"""Reading one run's history: steps, events and logs, each paginated by its own cursor."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis

from durable import keys, records, validation
from durable.store import Ref
from durable.types import JSONDict


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def paginate(
    items: list[tuple[int, JSONDict]], size: int, order: str, cursor: str | None
) -> tuple[list[JSONDict], str | None]:
    """Items carry a sortable position; the cursor is the last position returned."""
    after = validation.decode_cursor(cursor, ("p",))
    ordered = sorted(items, key=lambda it: it[0], reverse=order == "desc")
    if after is not None:
        edge = int(after["p"])
        ordered = [it for it in ordered if (it[0] < edge if order == "desc" else it[0] > edge)]
    page = ordered[:size]
    more = len(ordered) > size
    next_cursor = validation.encode_cursor({"p": page[-1][0]}) if more and page else None
    return [item for _, item in page], next_cursor


def _steps(raw: dict[Any, Any]) -> list[tuple[int, JSONDict]]:
    out = []
    for key, value in raw.items():
        rec = json.loads(value)
        out.append((int(rec.get("q", 0)), records.step_to_api(_s(key), rec)))
    return out


def _events(raw: dict[Any, Any]) -> list[tuple[int, JSONDict]]:
    grouped: dict[int, dict[str, str]] = {}
    for field, value in raw.items():
        seq, _, part = _s(field).partition(":")
        grouped.setdefault(int(seq), {})[part] = _s(value)
    return [(seq, records.event_to_api(parts)) for seq, parts in grouped.items() if "" in parts]


def _logs(raw: list[Any]) -> list[tuple[int, JSONDict]]:
    return [(i + 1, records.log_to_api(_s(line))) for i, line in enumerate(raw)]


async def read_history(
    redis: Redis,
    prefix: str,
    ref: Ref,
    run: int,
    size: int,
    order: str,
    include_logs: bool,
    cursors: dict[str, str | None],
) -> JSONDict:
    wf, iid = ref.workflow, ref.instance_id
    async with redis.pipeline(transaction=False) as pipe:
        pipe.hgetall(keys.steps_key(prefix, wf, iid, run))
        pipe.hgetall(keys.events_key(prefix, wf, iid, run))
        if include_logs:
            pipe.lrange(keys.logs_key(prefix, wf, iid, run), 0, -1)
        replies = await pipe.execute()
    out: JSONDict = {"runNumber": run}
    parts: list[tuple[str, Callable[[Any], list[tuple[int, JSONDict]]]]] = [
        ("steps", _steps),
        ("events", _events),
    ]
    if include_logs:
        parts.append(("logs", _logs))
    for (name, parse), reply in zip(parts, replies, strict=False):
        page, next_cursor = paginate(parse(reply), size, order, cursors.get(name))
        out[name] = page
        out[f"{name}Cursor"] = next_cursor
        out[f"{name}HasNextPage"] = next_cursor is not None
    return out
