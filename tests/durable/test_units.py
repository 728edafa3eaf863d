"""Pure units: durations, retry delays, names, the public surface."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

import durable
from durable import Retries, define_workflow, workflow
from durable.durations import to_ms
from durable.errors import ConfigurationError, DurableError, InvalidDurationError
from durable.retries import as_retries
from durable.workflow import Registry


@pytest.mark.parametrize(
    ("value", "ms"),
    [
        ("2 s", 2000),
        ("15 min", 900_000),
        ("1.5h", 5_400_000),
        ("250", 250),
        (250, 250),
        (1.4, 1),
        ("40 ms", 40),
        ("3 Days", 259_200_000),
        ("1 hr", 3_600_000),
        ("2secs", 2000),
        (timedelta(seconds=1.5), 1500),
        ("0.5 minute", 30_000),
    ],
)
def test_durations_parse(value: object, ms: int) -> None:
    assert to_ms(value) == ms  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["", "soon", "5 fortn", "-1 s", "1e3 s", None, True, [1], "s"])
def test_bad_durations_name_the_input(value: object) -> None:
    with pytest.raises(InvalidDurationError) as info:
        to_ms(value)  # type: ignore[arg-type]
    assert repr(value) in str(info.value)


def test_retry_delays_follow_the_backoff() -> None:
    assert [Retries(3, "100 ms").delay_ms(a) for a in (1, 2, 3)] == [100, 100, 100]
    assert [Retries(3, 100, "linear").delay_ms(a) for a in (1, 2, 3)] == [100, 200, 300]
    assert [Retries(3, 100, "exponential").delay_ms(a) for a in (1, 2, 3)] == [100, 200, 400]
    capped = Retries(5, 100, "exponential", max_delay="250 ms")
    assert [capped.delay_ms(a) for a in (1, 2, 3, 4)] == [100, 200, 250, 250]


def test_jitter_stays_within_half_and_full_delay() -> None:
    rng = random.Random(7)
    delays = [Retries(3, 1000, jitter=True).delay_ms(1, rng) for _ in range(200)]
    assert all(500 <= d <= 1000 for d in delays) and len(set(delays)) > 50


def test_retries_from_a_dict() -> None:
    policy = as_retries({"limit": 1, "delay": "40 ms", "backoff": "constant"})
    assert policy == Retries(limit=1, delay="40 ms", backoff="constant")
    assert policy.max_attempts == 2
    with pytest.raises(DurableError):
        as_retries({"limit": -1})
    with pytest.raises(DurableError):
        as_retries({"tries": 3})


@pytest.mark.parametrize("name", ["", "-x", "a b", "x" * 65, "a/b", "é"])
def test_invalid_workflow_names_are_refused(name: str) -> None:
    async def fn(event: object, step: object) -> None:
        return None

    with pytest.raises(ConfigurationError):
        define_workflow(name, fn)


def test_registry_uses_workflow_names_not_dict_keys() -> None:
    @workflow("approval-workflow")
    async def approval(event: object, step: object) -> None:
        return None

    registry = Registry({"approval": approval})
    assert list(registry) == ["approval-workflow"]


def test_public_surface_is_pinned() -> None:
    assert sorted(durable.__all__) == sorted(
        [
            "ChildWorkflowError", "Client", "ClientError", "Concurrency", "ConfigurationError",
            "Duration", "DurableError", "InstanceNotFoundError", "InstanceTerminalError",
            "InstanceWaitTimeoutError", "InvalidDurationError",
            "NonRetryableError", "NondeterminismError", "RateLimit", "ReceivedEvent", "Registry",
            "Retries", "Schedule", "Settings", "Status", "Step", "StepContext", "StepFailedError",
            "StepTimeoutError",
            "WaitForEventTimeoutError", "WorkerLostError", "Workflow", "WorkflowEvent",
            "WorkflowNotFoundError", "__version__", "define_workflow", "load_registry", "to_ms",
            "workflow",
        ]
    )  # fmt: skip
    for name in durable.__all__:
        assert hasattr(durable, name)


def test_all_library_errors_share_one_root() -> None:
    for name in ("NonRetryableError", "StepTimeoutError", "WaitForEventTimeoutError"):
        assert issubclass(getattr(durable, name), DurableError)
    assert issubclass(durable.NondeterminismError, DurableError)


def test_clock_keeps_the_best_offset_and_follows_jumps() -> None:
    from durable.clock import Clock

    local = [1000.0]
    clock = Clock(lambda: local[0])
    clock.sync(1_000_500)  # server is 500 ms ahead
    assert clock.now_ms() == 1_000_500
    clock.sync(1_000_480)  # a late reply underestimates the offset: keep the better one
    assert clock.now_ms() == 1_000_500
    clock.sync(1_005_000)  # the clocks jumped: follow
    assert clock.now_ms() == 1_005_000
