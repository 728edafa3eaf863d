"""Stored records: their JSON stays what the scripts and older workers read, both ways."""

from __future__ import annotations

import json
from dataclasses import replace

from durable import views
from durable.records import (
    FAILED_ATTEMPTS_KEPT,
    FAILED_MESSAGE_MAX,
    EventRecord,
    InstanceRecord,
    LogRecord,
    StepError,
    StepRecord,
)
from durable.types import LogLevel, Status, StepStatus, StepType

HUGE = 2**80


def test_a_step_record_starts_with_its_status() -> None:
    rec = StepRecord(StepStatus.WAITING, "charge", StepType.DO, 3, attempt=2, max_attempts=4)
    assert rec.encode().startswith('{"s":"waiting",')
    assert json.loads(rec.encode()) == {
        "s": "waiting", "n": "charge", "t": "do", "q": 3, "a": 2, "m": 4,
    }  # fmt: skip


def test_a_step_record_round_trips_every_field() -> None:
    rec = StepRecord(
        StepStatus.ERRORED, "charge", StepType.DO, 2, attempt=3, max_attempts=3,
        interruptions=1, timeout_ms=500, next_retry_at_ms=None, wake_at_ms=None,
        error=StepError("CardDeclined", "no", kind="ValueError"), created_at_ms=10,
        updated_at_ms=20,
    ).with_failure(StepError("CardDeclined", "no"), 15)  # fmt: skip
    assert StepRecord.decode(rec.encode()) == rec
    wait = StepRecord(
        StepStatus.COMPLETED, "approval", StepType.WAIT_FOR_EVENT, 1, wake_at_ms=99,
        event_type="approved", result={"type": "approved", "payload": [], "timestamp": 5},
    )  # fmt: skip
    assert StepRecord.decode(wait.encode()) == wait


def test_a_record_written_by_an_older_version_reads_with_defaults() -> None:
    old = '{"s":"waiting","n":"x","t":"do","q":1,"a":2,"m":3,"nr":5,"c":1,"u":2}'
    rec = StepRecord.decode(old)
    assert (rec.failed_attempts, rec.failed_attempts_total, rec.interruptions) == ((), 0, 0)
    assert (rec.attempt, rec.max_attempts, rec.next_retry_at_ms) == (2, 3, 5)
    bare = StepRecord.decode('{"s":"completed","n":"p","t":"patch","q":4}')
    assert (bare.attempt, bare.max_attempts, bare.result, bare.error) == (0, 1, None, None)


def test_fields_a_newer_version_added_are_written_back() -> None:
    raw = '{"s":"running","n":"x","t":"do","q":1,"a":1,"m":1,"zz":{"new":[1]}}'
    rec = StepRecord.decode(raw)
    assert rec.extra == {"zz": {"new": [1]}}
    again = replace(rec, status=StepStatus.COMPLETED)
    assert json.loads(again.encode())["zz"] == {"new": [1]}


def test_a_result_is_spliced_unchanged() -> None:
    """The engine stores the text it encoded to check a result's size: huge integers and
    empty arrays against empty objects come back as they went in."""
    rec = StepRecord(StepStatus.COMPLETED, "x", StepType.DO, 1, attempt=1)
    text = json.dumps({"big": HUGE, "list": [], "map": {}}, separators=(",", ":"))
    stored = rec.encode(result_json=text)
    assert stored.endswith(',"r":' + text + "}")
    assert StepRecord.decode(stored).result == {"big": HUGE, "list": [], "map": {}}
    assert json.loads(replace(rec, result=[]).encode())["r"] == []


def test_the_heads_scripts_complete() -> None:
    rec = StepRecord(
        StepStatus.WAITING, "approval", StepType.WAIT_FOR_EVENT, 2, wake_at_ms=50,
        event_type="ok", created_at_ms=10, updated_at_ms=11,
    )  # fmt: skip
    completed = '{"s":"completed",' + rec.wait_head()[1:] + ',"u":12,"r":{"type":"ok"}}'
    assert StepRecord.decode(completed) == replace(
        rec, status=StepStatus.COMPLETED, updated_at_ms=12, result={"type": "ok"}
    )
    failed = replace(rec, type=StepType.DO, status=StepStatus.ERRORED, attempt=2, wake_at_ms=None)
    reopened = failed.reopened()
    assert (reopened.status, reopened.max_attempts) == (StepStatus.WAITING, 3)
    stored = reopened.retry_head() + ',"nr":70,"u":60}'
    assert stored.startswith('{"s":"waiting",')
    assert StepRecord.decode(stored) == replace(reopened, next_retry_at_ms=70, updated_at_ms=60)


def test_failed_attempts_keep_the_latest_with_bounded_messages() -> None:
    rec = StepRecord(StepStatus.RUNNING, "x", StepType.DO, 1, attempt=1)
    for attempt in range(1, FAILED_ATTEMPTS_KEPT + 3):
        rec = replace(rec, attempt=attempt).with_failure(StepError("E", "x" * 10_000, "E"), 7)
    assert rec.failed_attempts_total == FAILED_ATTEMPTS_KEPT + 2
    assert [f.attempt for f in rec.failed_attempts] == list(range(3, FAILED_ATTEMPTS_KEPT + 3))
    kept = json.loads(rec.encode())["fa"][0]["e"]
    assert set(kept) == {"name", "message"}
    assert len(kept["message"]) == FAILED_MESSAGE_MAX and kept["message"].endswith("…")


def test_failed_attempts_in_the_api() -> None:
    old = StepRecord.decode('{"s":"waiting","n":"x","t":"do","q":1,"a":2,"m":3,"nr":5}')
    entry = views.step_to_api("x", old)
    assert (entry["failedAttempts"], entry["failedAttemptsTotal"]) == ([], 0)
    failed = old.with_failure(StepError("E", "m"), 1_000)
    assert views.step_to_api("x", failed)["failedAttempts"] == [
        {"attempt": 2, "error": {"name": "E", "message": "m"}, "at": "1970-01-01T00:00:01.000Z"}
    ]


def test_an_instance_hash_decodes_with_defaults() -> None:
    inst = InstanceRecord.decode(
        {
            "v": "1", "wf": "orders", "id": "o1", "status": "running", "run": "2",
            "params": '{"n":1}', "created": "1000", "updated": "2000", "fence": "7",
            "pause": "1", "cur": "charge", "logn": "3", "lost": "1", "output": "null",
        }
    )  # fmt: skip
    assert (inst.workflow, inst.instance_id, inst.status, inst.run) == (
        "orders", "o1", Status.RUNNING, 2
    )  # fmt: skip
    assert (inst.params, inst.fence, inst.pause_requested, inst.current_step) == (
        {"n": 1}, 7, True, "charge"
    )  # fmt: skip
    assert (inst.workflow_logs, inst.interruptions, inst.output_json) == (3, 1, "null")
    assert (inst.version, inst.started_at_ms, inst.error) == (None, None, None)
    assert views.details(inst) == {"status": "running", "runNumber": 2, "output": None}


def test_log_lines_and_events() -> None:
    line = LogRecord(LogLevel.INFO, "hi", {"n": HUGE}, step_key="a", attempt=1, created_at_ms=5)
    stored = '{"id":4,' + line.encode()[1:]  # as the scripts append it
    assert LogRecord.decode(stored) == replace(line, id=4)
    assert views.log_to_api(LogRecord.decode(stored))["id"] == "4"
    head = EventRecord.head("e1", "approved")
    event = EventRecord.decode({"": head + ',"c":9}', "p": "[]", "k": "wait", "d": "10"})
    assert event == EventRecord("e1", "approved", 9, "[]", 10, "wait")
    assert views.event_to_api(event)["payload"] == []
