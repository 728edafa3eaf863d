"""Schedules: start a workflow on a cron expression or every fixed interval.

`Schedule(...)` declares one in code, beside the workflows (a registry may hold Schedule
objects); the HTTP API and the Client create the same definition at run time. The time
arithmetic (which ticks fall when) lives here too; durable.ticker runs a schedule and
durable.schedules manages them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, get_args
from zoneinfo import ZoneInfo

from cronsim import CronSim, CronSimError

from durable.durations import Duration, to_ms
from durable.errors import ConfigurationError, InvalidDurationError
from durable.names import WORKFLOW_NAME_MAX

if TYPE_CHECKING:
    from durable.workflow import Workflow

Overlap = Literal["skip", "allow"]
Catchup = Literal["latest", "all", "none"]
OVERLAPS: tuple[str, ...] = get_args(Overlap)
CATCHUPS: tuple[str, ...] = get_args(Catchup)

# Schedule ids: no ':' (a ticker's id is "<workflow>:<schedule id>", split at the last ':'), and
# short enough that "<schedule id>:<tick>" (21 more characters) is a valid instance id.
SCHEDULE_ID_MAX = 63
MIN_EVERY_MS = 1000  # instance ids name a tick to the second
# A tick that comes this late is missed (catchup "none" skips it).
LATE_MS = 60_000
Issue = dict[str, str]


def _issue(path: str, message: str) -> Issue:
    return {"path": path, "message": message}


def check_id(value: Any) -> list[Issue]:
    ok = (
        isinstance(value, str)
        and 0 < len(value) <= SCHEDULE_ID_MAX
        and (value[0].isascii() and (value[0].isalnum() or value[0] == "_"))
        and all(c.isascii() and (c.isalnum() or c in "_.-") for c in value)
    )
    if ok:
        return []
    return [
        _issue(
            "id",
            f"1-{SCHEDULE_ID_MAX} characters of letters, digits and _ . - (not starting with . -)",
        )
    ]


def check_cron(value: Any) -> list[Issue]:
    if not isinstance(value, str):
        return [_issue("cron", "a cron expression is a string")]
    if len(value.split()) not in (5, 6):
        return [_issue("cron", "5 fields (minute hour day month weekday), or 6 with seconds first")]
    try:
        CronSim(value, datetime.now(UTC))
    except (CronSimError, ValueError) as exc:
        return [_issue("cron", f"invalid cron expression {value!r}: {exc}")]
    return []


def every_ms(value: Any) -> int:
    """An `every` as milliseconds: a duration of at least 1 second (InvalidDurationError)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidDurationError(value, "every is a duration string or a number of ms")
    ms = to_ms(value)
    if ms < MIN_EVERY_MS:
        raise InvalidDurationError(value, "a schedule ticks at most once a second")
    return ms


def check_every(value: Any) -> list[Issue]:
    try:
        every_ms(value)
    except InvalidDurationError as exc:
        return [_issue("every", str(exc))]
    return []


def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def check_timezone(value: Any) -> list[Issue]:
    if not isinstance(value, str) or not value:
        return [_issue("timezone", "an IANA time zone name such as 'Europe/Paris' or 'UTC'")]
    try:
        zone(value)
    except (KeyError, ValueError, OSError):
        return [_issue("timezone", f"unknown time zone {value[:60]!r}")]
    return []


def check_choice(path: str, value: Any, choices: tuple[str, ...]) -> list[Issue]:
    if value in choices:
        return []
    return [_issue(path, f"one of {', '.join(choices)}")]


def check_timing(cron: Any, every: Any) -> list[Issue]:
    """Exactly one of cron and every, and that one valid."""
    if (cron is None) == (every is None):
        message = "give either cron or every" if cron is None else "give cron or every, not both"
        return [_issue("cron" if cron is not None else "every", message)]
    return check_cron(cron) if cron is not None else check_every(every)


@dataclass(frozen=True)
class Timing:
    """When a schedule ticks: cron ticks in the schedule's time zone (as Debian cron does
    across daylight-saving changes), `every` ticks at whole multiples of the interval since
    the Unix epoch (UTC). Times are epoch milliseconds; ticks fall on whole seconds."""

    cron: str | None
    every_ms: int | None
    timezone: str = "UTC"

    def next_after(self, ms: int) -> int:
        """The first tick strictly after `ms`."""
        if self.every_ms is not None:
            return (ms // self.every_ms + 1) * self.every_ms
        start = datetime.fromtimestamp(ms // 1000, zone(self.timezone))
        return _ms(next(CronSim(self._cron, start)))

    def latest_at(self, ms: int, limit: int = 1) -> list[int]:
        """The latest `limit` ticks at or before `ms`, oldest first."""
        if self.every_ms is not None:
            last = ms // self.every_ms
            return [n * self.every_ms for n in range(max(last - limit + 1, 0), last + 1)]
        start = datetime.fromtimestamp(ms // 1000 + 1, zone(self.timezone))
        ticks = CronSim(self._cron, start, reverse=True)
        return sorted(_ms(next(ticks)) for _ in range(limit))

    def due(self, first: int, now: int, catchup: str, limit: int) -> list[int]:
        """The ticks to start when the tick `first` came due and it is now `now` (>= first):
        the latest one ("latest"), the latest `limit` from `first` on ("all"), or `first`
        alone if no later tick has come and it is less than a minute late ("none")."""
        if catchup == "none":
            on_time = now - first < LATE_MS and self.next_after(first) > now
            return [first] if on_time else []
        wanted = 1 if catchup == "latest" else limit
        return [tick for tick in self.latest_at(now, wanted) if tick >= first]

    @property
    def _cron(self) -> str:
        if self.cron is None:  # pragma: no cover - a Timing has cron or every
            raise ValueError("no cron expression")
        return self.cron


def _ms(value: datetime) -> int:
    return math.floor(value.timestamp()) * 1000


def tick_label(ms: int) -> str:
    """A tick as instance ids name it: ISO 8601 UTC to the second ('2026-12-01T03:00:00Z')."""
    return datetime.fromtimestamp(ms // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Schedule:
    """A schedule declared in code: start `workflow` on `cron` or `every`, with `params`.

    Put it in the registry beside the workflows (`workflows = [orders, Schedule(...)]`, or as
    a value of the registry dict); every worker and API process that loads the registry makes
    sure it exists at start-up, and updates it when its definition here changed.

    - `cron`: 5 fields (minute hour day-of-month month day-of-week), or 6 with a seconds field
      first; read in `timezone` (an IANA name, default "UTC").
    - `every`: a duration of at least 1 second ("30 s", "1 h", 60000); ticks fall on whole
      multiples of it since the Unix epoch.
    - `overlap`: "skip" (default) starts nothing while the schedule's previous instance is
      still running; "allow" always starts one.
    - `catchup`: after downtime or a pause, start the latest missed tick ("latest", default),
      every missed tick (up to 100, "all"), or none of them ("none").
    - `paused`: create the schedule paused.

    A bad definition raises ConfigurationError. See docs/semantics.md, "Schedules".
    """

    id: str
    workflow: str | Workflow
    cron: str | None = None
    every: Duration | None = None
    params: Any = None
    timezone: str = "UTC"
    overlap: Overlap = "skip"
    catchup: Catchup = "latest"
    paused: bool = False

    def __post_init__(self) -> None:
        name = getattr(self.workflow, "name", self.workflow)
        object.__setattr__(self, "workflow", name)
        every = self.every
        if every is not None and not isinstance(every, str | int | float):
            every = to_ms(every)  # a timedelta
        object.__setattr__(self, "every", every)
        issues = check_definition(
            {
                "id": self.id,
                "cron": self.cron,
                "every": every,
                "timezone": self.timezone,
                "overlap": self.overlap,
                "catchup": self.catchup,
            }
        )
        if not isinstance(name, str) or not 0 < len(name) <= WORKFLOW_NAME_MAX:
            issues.append(_issue("workflow", "a Workflow or a workflow name"))
        if issues:
            listed = "; ".join(f"{i['path']}: {i['message']}" for i in issues)
            raise ConfigurationError(f"invalid schedule {self.id!r}: {listed}")

    @property
    def workflow_name(self) -> str:
        return str(self.workflow)


def check_definition(values: dict[str, Any]) -> list[Issue]:
    """Every problem of a definition's fields (id, cron, every, timezone, overlap, catchup)."""
    return [
        *check_id(values.get("id")),
        *check_timing(values.get("cron"), values.get("every")),
        *check_timezone(values.get("timezone", "UTC")),
        *check_choice("overlap", values.get("overlap", "skip"), OVERLAPS),
        *check_choice("catchup", values.get("catchup", "latest"), CATCHUPS),
    ]
