"""durable/schedule.py: definitions, their checks, and which ticks fall when (no Redis)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from durable import ConfigurationError, Schedule, workflow
from durable.schedule import Timing, check_definition, tick_label
from durable.workflow import Registry, Workflow


def ms(*args: int, tz: Any = UTC) -> int:
    year, month, day, hour, minute, second = args
    return int(datetime(year, month, day, hour, minute, second, tzinfo=tz).timestamp() * 1000)


@workflow("nightly-report")
async def report(event: Any, step: Any) -> None:
    return None


def test_every_ticks_on_whole_multiples_since_the_epoch() -> None:
    timing = Timing(None, 30_000)
    assert timing.next_after(ms(2026, 1, 1, 0, 0, 10)) == ms(2026, 1, 1, 0, 0, 30)
    assert timing.next_after(ms(2026, 1, 1, 0, 0, 30)) == ms(2026, 1, 1, 0, 1, 0)
    assert timing.latest_at(ms(2026, 1, 1, 0, 1, 5), 3) == [
        ms(2026, 1, 1, 0, 0, 0), ms(2026, 1, 1, 0, 0, 30), ms(2026, 1, 1, 0, 1, 0)
    ]  # fmt: skip


def test_cron_reads_its_fields_in_the_time_zone() -> None:
    paris = Timing("0 3 * * *", None, "Europe/Paris")
    after = ms(2026, 7, 1, 12, 0, 0)
    assert paris.next_after(after) == ms(2026, 7, 2, 3, 0, 0, tz=ZoneInfo("Europe/Paris"))
    assert paris.next_after(after) == ms(2026, 7, 2, 1, 0, 0)  # CEST is UTC+2
    assert paris.latest_at(after) == [ms(2026, 7, 1, 1, 0, 0)]


def test_a_sixth_cron_field_counts_seconds_first() -> None:
    timing = Timing("*/15 * * * * *", None)
    assert timing.next_after(ms(2026, 1, 1, 0, 0, 1)) == ms(2026, 1, 1, 0, 0, 15)


def test_a_tick_at_the_exact_time_is_due_then_and_not_after() -> None:
    timing = Timing("0 3 * * *", None)
    three = ms(2026, 1, 1, 3, 0, 0)
    assert timing.latest_at(three) == [three]
    assert timing.next_after(three) == ms(2026, 1, 2, 3, 0, 0)


def test_catchup_latest_all_and_none() -> None:
    minutely = Timing("* * * * *", None)
    first, now = ms(2026, 1, 1, 0, 1, 0), ms(2026, 1, 1, 0, 4, 30)
    assert minutely.due(first, now, "latest", 100) == [ms(2026, 1, 1, 0, 4, 0)]
    assert minutely.due(first, now, "all", 100) == [ms(2026, 1, 1, 0, m, 0) for m in (1, 2, 3, 4)]
    assert minutely.due(first, now, "all", 2) == [ms(2026, 1, 1, 0, m, 0) for m in (3, 4)]
    assert minutely.due(first, now, "none", 100) == []  # later ticks came: it was missed
    assert minutely.due(first, first + 500, "none", 100) == [first]  # on time


def test_instance_ids_name_the_tick_to_the_second() -> None:
    assert tick_label(ms(2026, 12, 1, 3, 0, 0) + 999) == "2026-12-01T03:00:00Z"


@pytest.mark.parametrize(
    ("fields", "path"),
    [
        ({"id": "s", "cron": "61 * * * *"}, "cron"),
        ({"id": "s", "cron": "0 3 * *"}, "cron"),
        ({"id": "s", "every": "soon"}, "every"),
        ({"id": "s", "every": "500 ms"}, "every"),
        ({"id": "s"}, "every"),
        ({"id": "s", "cron": "* * * * *", "every": "1 s"}, "cron"),
        ({"id": "s", "every": "1 s", "timezone": "Mars/Olympus"}, "timezone"),
        ({"id": "a:b", "every": "1 s"}, "id"),
        ({"id": "x" * 64, "every": "1 s"}, "id"),
        ({"id": "s", "every": "1 s", "overlap": "queue"}, "overlap"),
        ({"id": "s", "every": "1 s", "catchup": "some"}, "catchup"),
    ],
)
def test_a_bad_definition_names_the_field(fields: dict[str, Any], path: str) -> None:
    assert [issue["path"] for issue in check_definition(fields)] == [path]


def test_schedules_are_declared_beside_workflows() -> None:
    nightly = Schedule("nightly", report, cron="0 3 * * *", timezone="Europe/Paris")
    entries: dict[str, Workflow | Schedule] = {"report": report, "nightly": nightly}
    registry = Registry(entries)
    assert list(registry) == ["nightly-report"]  # the ticker is served, not listed
    assert registry.schedules == (nightly,)
    assert nightly.workflow == "nightly-report"
    assert registry["durable.schedule"].name == "durable.schedule"


def test_a_bad_declaration_fails_at_import() -> None:
    with pytest.raises(ConfigurationError, match="cron"):
        Schedule("nightly", report, cron="every night")
    with pytest.raises(ConfigurationError, match="not registered"):
        Registry([Schedule("nightly", "elsewhere", every="1 h")])
    with pytest.raises(ConfigurationError, match="share the id"):
        Registry([report, Schedule("n", report, every="1 h"), Schedule("n", report, every="2 h")])
    with pytest.raises(ConfigurationError, match="reserved"):
        Registry([workflow("durable.schedule")(report.fn)])
