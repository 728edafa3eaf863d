"""Reading one run's history: steps, events and logs, each paginated by its own cursor.

Log filters (level, category) apply before pagination; a log's position in the run's log list
is its cursor position either way, so a cursor stays valid for the same filters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from durable import keys, validation, views
from durable.cluster import AnyRedis
from durable.errors import ValidationError
from durable.records import EventRecord, LogRecord, StepRecord
from durable.store import Ref
from durable.types import JSONDict, LogLevel

LOG_LEVELS = tuple(level.value for level in LogLevel)


@dataclass(frozen=True)
class LogFilter:
    """Keep the log lines of one level and/or one category (exact match); None keeps all."""

    level: str | None = None
    category: str | None = None

    @classmethod
    def of(cls, level: str | None, category: str | None) -> LogFilter:
        """A validated filter (the values come from callers of the Client, too)."""
        if level is not None and level not in LOG_LEVELS:
            raise _invalid("logLevel", f"must be one of {', '.join(LOG_LEVELS)}")
        if category is not None and (not isinstance(category, str) or not category):
            raise _invalid("logCategory", "must be a non-empty string")
        return cls(level, category)

    def keeps(self, entry: JSONDict) -> bool:
        return (self.level is None or entry["level"] == self.level) and (
            self.category is None or entry["category"] == self.category
        )


def _invalid(path: str, message: str) -> ValidationError:
    return ValidationError(f"{path} {message}", [{"path": path, "message": message}])


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
        rec = StepRecord.decode(value)
        out.append((rec.order, views.step_to_api(_s(key), rec)))
    return out


def _events(raw: dict[Any, Any]) -> list[tuple[int, JSONDict]]:
    grouped: dict[int, dict[str, str]] = {}
    for field, value in raw.items():
        seq, _, part = _s(field).partition(":")
        grouped.setdefault(int(seq), {})[part] = _s(value)
    return [
        (seq, views.event_to_api(EventRecord.decode(parts)))
        for seq, parts in grouped.items()
        if "" in parts
    ]


def _logs(raw: list[Any], wanted: LogFilter) -> list[tuple[int, JSONDict]]:
    entries = [(i + 1, views.log_to_api(LogRecord.decode(_s(line)))) for i, line in enumerate(raw)]
    return [(i, entry) for i, entry in entries if wanted.keeps(entry)]


async def read_history(
    redis: AnyRedis,
    prefix: str,
    ref: Ref,
    run: int,
    size: int,
    order: str,
    include_logs: bool,
    cursors: dict[str, str | None],
    log_filter: LogFilter | None = None,
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
        wanted = log_filter or LogFilter()
        parts.append(("logs", lambda raw: _logs(raw, wanted)))
    for (name, parse), reply in zip(parts, replies, strict=False):
        page, next_cursor = paginate(parse(reply), size, order, cursors.get(name))
        out[name] = page
        if next_cursor is not None:  # absent, never null, on the last page
            out[f"{name}Cursor"] = next_cursor
        out[f"{name}HasNextPage"] = next_cursor is not None
    return out
