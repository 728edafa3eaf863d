"""Long durations: weeks, months (30 days) and years (365 days), wherever durations are taken."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click
import pytest

from durable import Retries, workflow
from durable.cli.command import DurationMs
from durable.durations import DAY_MS, MONTH_MS, WEEK_MS, YEAR_MS, to_ms
from durable.errors import ConfigurationError, InvalidDurationError
from durable.models import CurrentStep, Instance
from durable.settings import Settings
from tests.helpers import as_json, assert_eventually

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("2 weeks", 14 * DAY_MS),
        ("1 week", 7 * DAY_MS),
        ("3w", 21 * DAY_MS),
        ("1 wk", 7 * DAY_MS),
        ("2 WKS", 14 * DAY_MS),
        ("1 month", 30 * DAY_MS),
        ("6 Months", 180 * DAY_MS),
        ("1mo", 30 * DAY_MS),
        ("1.5 mo", 45 * DAY_MS),
        ("1 year", 365 * DAY_MS),
        ("2 Years", 730 * DAY_MS),
        ("1y", 365 * DAY_MS),
        ("1 yr", 365 * DAY_MS),
        ("2 YRS", 730 * DAY_MS),
        (".5 w", round(3.5 * DAY_MS)),
        ("0.1 y", round(36.5 * DAY_MS)),
    ],
)
def test_weeks_months_and_years_parse_to_fixed_lengths(text: str, ms: int) -> None:
    assert to_ms(text) == ms


def test_m_stays_minutes_and_mo_is_months() -> None:
    assert to_ms("5 m") == 5 * 60_000
    assert to_ms("5 M") == 5 * 60_000
    assert to_ms("5 mo") == 5 * MONTH_MS


def test_named_lengths() -> None:
    assert (WEEK_MS, MONTH_MS, YEAR_MS) == (7 * DAY_MS, 30 * DAY_MS, 365 * DAY_MS)


@pytest.mark.parametrize("text", ["1 fortnight", "1 mon", "1 mth", "2 yearz", "1 week ago", "-1 y"])
def test_near_misses_are_rejected_naming_the_input(text: str) -> None:
    with pytest.raises(InvalidDurationError) as info:
        to_ms(text)
    assert repr(text) in str(info.value)


def test_retry_delays_take_long_units() -> None:
    assert Retries(2, "1 week").delay_ms(1) == WEEK_MS
    assert Retries(3, "1 day", "exponential", max_delay="1 month").delay_ms(6) == MONTH_MS


def test_environment_settings_take_long_units(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DURABLE_RETENTION", "2 weeks")
    assert Settings.from_env().retention_ms == 14 * DAY_MS
    monkeypatch.setenv("DURABLE_RETENTION", "1 Year")
    assert Settings.from_env().retention_ms == YEAR_MS
    monkeypatch.setenv("DURABLE_RETENTION", "1 fortnight")
    with pytest.raises(ConfigurationError, match="DURABLE_RETENTION"):
        Settings.from_env()


def test_cli_duration_option_takes_long_units() -> None:
    assert DurationMs().convert("1 month", None, None) == MONTH_MS
    assert DurationMs().convert("2 wks", None, None) == 14 * DAY_MS
    with pytest.raises(click.BadParameter):
        DurationMs().convert("1 fortnight", None, None)


# -- in a running workflow, on real Redis ---------------------------------------------------------


@workflow("long-sleep")
async def long_sleep(event: Any, step: Any) -> Any:
    await step.sleep("nap", "2 weeks")
    return "woke"


@workflow("year-wait")
async def year_wait(event: Any, step: Any) -> Any:
    timeout = (event.payload or {}).get("timeout", "1 year")
    return await step.wait_for_event("answer", type="answer", timeout=timeout)


def ms_of(stamp: datetime | None) -> int:
    assert stamp is not None
    return round(stamp.timestamp() * 1000)


async def reaches(client: Any, wf: str, iid: str, status: str) -> Instance:
    async def check() -> Any:
        got = await client.get(wf, iid)
        return got if got.details.status == status else None

    return await assert_eventually(check)  # type: ignore[no-any-return]


async def current_step(client: Any, wf: str, iid: str, status: str) -> CurrentStep:
    got = await reaches(client, wf, iid, status)
    assert got.meta.current_step is not None
    return got.meta.current_step


async def test_a_two_week_sleep_wakes_two_weeks_later(workers: Any, client_factory: Any) -> None:
    await workers.start([long_sleep])
    client = client_factory([long_sleep])
    await client.create("long-sleep", instance_id="s1")
    step = await current_step(client, "long-sleep", "s1", "waiting")
    got = await client.get("long-sleep", "s1")
    started = ms_of(got.meta.started_at or got.meta.created_at)
    # the wake time is fixed from the worker's clock when the step is reached
    assert 0 <= ms_of(step.wake_at) - started - 14 * DAY_MS < 60_000


async def test_wait_for_event_accepts_a_year_and_rejects_more(
    workers: Any, client_factory: Any
) -> None:
    await workers.start([year_wait])
    client = client_factory([year_wait])
    await client.create("year-wait", instance_id="ok", params={"timeout": "1 year"})
    step = await current_step(client, "year-wait", "ok", "waiting")
    assert step.wait_event_type == "answer"
    await client.create("year-wait", instance_id="long", params={"timeout": "13 months"})
    got = await reaches(client, "year-wait", "long", "errored")
    assert "365 days" in as_json(got.details.error)["message"]
