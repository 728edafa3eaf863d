"""Text that Python holds but UTF-8 cannot: lone surrogates coming out of workflow code.

They are easy to meet in practice: `os.fsdecode`, `bytes.decode(errors="surrogateescape")` and
JSON `"\\udcff"` escapes all produce them. Whatever workflow code does with such text, an
instance must still end, and its history must stay readable.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from durable import workflow
from durable.api import create_app
from durable.client import Client
from durable.settings import Settings
from tests.helpers import as_json, assert_eventually
from tests.reliability.support import MOUNT, TestClient

pytestmark = pytest.mark.timeout(60)

FILE_NAME = b"report-\xff.csv".decode("utf-8", "surrogateescape")  # 'report-\udcff.csv'


@workflow("raises-odd-text")
async def raises_odd_text(event: Any, step: Any) -> None:
    await step.do("first", lambda: 1)
    raise ValueError(f"cannot open {FILE_NAME}")


@workflow("returns-odd-text")
async def returns_odd_text(event: Any, step: Any) -> Any:
    return await step.do("name", lambda: FILE_NAME)


@workflow("logs-odd-text")
async def logs_odd_text(event: Any, step: Any) -> int:
    step.log.info(f"reading {FILE_NAME}", {"file": FILE_NAME})
    return 1


WORKFLOWS = [raises_odd_text, returns_odd_text, logs_odd_text]


@pytest.fixture
async def client(settings: Settings, workers: Any) -> Any:
    await workers.start(WORKFLOWS)
    c = Client(WORKFLOWS, settings)
    yield c
    await c.aclose()


@pytest.fixture
def http(settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings, workflows=WORKFLOWS)
    with TestClient(app, raise_server_exceptions=False) as h:
        yield h


async def ended(client: Client, wf: str, iid: str) -> Any:
    async def check() -> Any:
        got = await client.get(wf, iid)
        return got if got.details.status in ("complete", "errored") else None

    return await assert_eventually(check, 8)


async def test_an_error_message_with_a_lone_surrogate_still_errors_the_instance(
    client: Client,
) -> None:
    await client.create("raises-odd-text", instance_id="e1")
    got = await ended(client, "raises-odd-text", "e1")
    assert got.details.status == "errored"
    assert as_json(got.details.error)["name"] == "ValueError"
    assert "cannot open report-" in as_json(got.details.error)["message"]


async def test_a_step_result_with_a_lone_surrogate_fails_the_step_with_step_result_error(
    client: Client,
) -> None:
    await client.create("returns-odd-text", instance_id="r1")
    got = await ended(client, "returns-odd-text", "r1")
    assert got.details.status == "errored"
    assert as_json(got.details.error)["name"] == "StepResultError", got.details
    steps = (await client.history("returns-odd-text", "r1")).steps
    assert [(s.step_key, s.status) for s in steps] == [("name", "errored")]


async def test_a_log_line_with_a_lone_surrogate_keeps_the_history_readable(
    client: Client, http: TestClient
) -> None:
    await client.create("logs-odd-text", instance_id="l1")
    assert (await ended(client, "logs-odd-text", "l1")).details.status == "complete"
    path = f"{MOUNT}/logs-odd-text/instances/l1/history"
    response = http.get(path, params={"includeLogs": "true"})
    assert response.status_code == 200, response.text
    [line] = response.json()["logs"]
    assert line["message"].startswith("reading report-")
