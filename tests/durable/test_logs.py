"""Log lines: the JSON and text formats, the bound instance fields, quiet per-job loggers."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import pytest

from durable import logs


@pytest.fixture
def stream(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """Configure logging into a buffer; put the root logger back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    quiet = {name: logging.getLogger(name).level for name in logs.QUIET_AT_INFO}
    monkeypatch.setattr(logs, "_format", logs.configured_format())
    buffer = io.StringIO()
    yield buffer
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, value in quiet.items():
        logging.getLogger(name).setLevel(value)
    logging.captureWarnings(False)


def lines(buffer: io.StringIO) -> list[str]:
    return buffer.getvalue().splitlines()


def test_json_lines_carry_time_level_logger_message_and_the_bound_instance(
    stream: io.StringIO,
) -> None:
    logs.configure("info", "json", stream)
    log = logging.getLogger("durable.runner")
    with logs.bound(workflow="orders", instance="inst_1", run=2):
        log.info("instance %s/%s complete", "orders", "inst_1")
        log.warning("step failed, retrying", extra={"step": "charge#1"})
    log.info("outside")
    first, second, third = (json.loads(line) for line in lines(stream))
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", first["time"])
    assert first == {
        "time": first["time"],
        "level": "info",
        "logger": "durable.runner",
        "message": "instance orders/inst_1 complete",
        "workflow": "orders",
        "instance": "inst_1",
        "run": 2,
    }
    assert second["level"] == "warning" and second["step"] == "charge#1"
    assert second["instance"] == "inst_1"
    assert third == {k: third[k] for k in ("time", "level", "logger", "message")}


def test_json_keeps_a_traceback_on_its_one_line(stream: io.StringIO) -> None:
    logs.configure("info", "json", stream)
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("durable.api").exception("unhandled")
    (line,) = lines(stream)
    entry = json.loads(line)
    assert entry["message"] == "unhandled" and "RuntimeError: boom" in entry["exc"]


def test_text_lines(stream: io.StringIO) -> None:
    logs.configure("info", "text", stream)
    with logs.bound(workflow="orders", instance="inst_1", run=0):
        logging.getLogger("durable.engine").warning("retrying", extra={"step": "charge#1"})
    logging.getLogger("durable.worker").info("ready")
    first, second = lines(stream)
    assert re.fullmatch(
        r"\S+Z WARNING durable\.engine: retrying \[orders/inst_1 run 0 step charge#1\]", first
    )
    assert re.fullmatch(r"\S+Z INFO    durable\.worker: ready", second)


def test_levels_and_arq_per_job_lines(stream: io.StringIO) -> None:
    logs.configure("info", "text", stream)
    logging.getLogger("arq.worker").info("  0.01s → job:abc()")
    logging.getLogger("arq.worker").warning("job timed out")
    logging.getLogger("durable.runner").debug("hidden")
    assert [line.split(": ", 1)[1] for line in lines(stream)] == ["job timed out"]
    logs.configure("debug", "text", stream)
    logging.getLogger("arq.worker").info("  0.01s → job:abc()")
    assert lines(stream)[-1].endswith("arq.worker:   0.01s → job:abc()")
    logs.configure("error", "json", stream)
    assert logging.getLogger("arq.worker").level == logging.ERROR


def test_python_warnings_become_log_lines(stream: io.StringIO) -> None:
    import warnings

    logs.configure("info", "json", stream)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("old API", UserWarning, stacklevel=1)
    (line,) = lines(stream)
    assert json.loads(line)["logger"] == "py.warnings"


def test_bad_level_or_format() -> None:
    with pytest.raises(ValueError, match="unknown log level 'loud'"):
        logs.configure("loud", "text")
    with pytest.raises(ValueError, match="unknown log format 'xml'"):
        logs.configure("info", "xml")
