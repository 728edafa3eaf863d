"""Reaching Redis: masked URLs, causes in a few words, start-up waits and outage reports."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import redis as sync_redis
from redis.exceptions import AuthenticationError, ConnectionError

from durable.connectivity import (
    OutageReporter,
    describe,
    describe_server,
    mask_url,
    wait_for_redis,
)
from durable.errors import ConfigurationError, RedisUnreachableError, StoreUnavailableError
from tests.conftest import REDIS_URL
from tests.helpers import free_port


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("redis://:s3cret@host:6379/0", "redis://:****@host:6379/0"),
        ("rediss://user:p%40ss@host/1", "rediss://user:****@host/1"),
        ("redis://host:6379/0", "redis://host:6379/0"),
        ("redis://user@host:6379/0", "redis://user@host:6379/0"),
        ("redis://:pw@[::1]:6379/0", "redis://:****@[::1]:6379/0"),
        ("redis://h/0?password=pw&db=2", "redis://h/0?password=****&db=2"),
        ("unix:///tmp/redis.sock?password=pw", "unix:///tmp/redis.sock?password=****"),
    ],
)
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_describe_names_the_cause() -> None:
    refused = ConnectionError("Error 111 connecting to 127.0.0.1:1. Connection refused.")
    assert describe(refused) == "connection refused"
    # redis.asyncio words a refused connection differently; the errno decides.
    refused = ConnectionError("Error 111 connecting to h:1. Connect call failed ('h', 1).")
    assert describe(refused) == "connection refused"
    dns = ConnectionError("Error -2 connecting to nope.invalid:6379. Name or service not known.")
    assert describe(dns) == "unknown host (name or service not known)"
    auth = AuthenticationError("invalid username-password pair or user is disabled.")
    assert describe(auth) == (
        "authentication failed (invalid username-password pair or user is disabled)"
    )
    wrapped = StoreUnavailableError()
    wrapped.__cause__ = refused
    assert describe(wrapped) == "connection refused"
    assert describe(TimeoutError()) == "timed out"


def test_wait_for_redis_returns_the_server_info() -> None:
    info = wait_for_redis(REDIS_URL, 2000)
    assert info["redis_version"]
    assert describe_server(REDIS_URL, info).startswith(f"{REDIS_URL} (Redis ")


def test_wait_for_redis_retries_until_redis_answers() -> None:
    attempts: list[float] = []
    real = sync_redis.Redis.from_url(REDIS_URL)

    def connect(url: str, timeout_s: float) -> Any:
        attempts.append(timeout_s)
        if len(attempts) < 3:
            raise ConnectionError("Error 111 connecting to x:1. Connection refused.")
        return real

    assert wait_for_redis("redis://x:1/0", 60_000, connect=connect, sleep=lambda _: None)
    assert len(attempts) == 3


def test_wait_for_redis_gives_up_at_the_timeout_with_the_cause() -> None:
    url = f"redis://:s3cret@127.0.0.1:{free_port()}/0"
    with pytest.raises(RedisUnreachableError) as caught:
        wait_for_redis(url, 300)
    assert str(caught.value) == (
        f"cannot reach Redis at {mask_url(url)}: connection refused (gave up after 0.3 s)"
    )
    assert "s3cret" not in str(caught.value)


def test_wait_for_redis_does_not_retry_a_wrong_password() -> None:
    calls: list[str] = []

    def connect(url: str, timeout_s: float) -> Any:
        calls.append(url)
        raise AuthenticationError("invalid username-password pair or user is disabled.")

    with pytest.raises(RedisUnreachableError, match="authentication failed"):
        wait_for_redis("redis://:bad@h:1/0", 60_000, connect=connect, sleep=lambda _: None)
    assert len(calls) == 1


def test_wait_for_redis_rejects_a_url_that_is_not_redis() -> None:
    with pytest.raises(ConfigurationError, match="invalid Redis URL 'localhost:6379'"):
        wait_for_redis("localhost:6379", 1000)


def test_outage_reports_are_throttled(caplog: pytest.LogCaptureFixture) -> None:
    now = [100.0]
    reporter = OutageReporter(
        "redis://:pw@h:1/0", logging.getLogger("durable.test"), every_s=30, clock=lambda: now[0]
    )
    refused = ConnectionError("Error 111 connecting to h:1. Connection refused.")
    with caplog.at_level(logging.WARNING, "durable.test"):
        reporter.report(refused)
        now[0] += 29
        reporter.report(refused)
        reporter.report(refused)
        now[0] += 1
        reporter.report(refused)
    assert [r.getMessage() for r in caplog.records] == [
        "cannot reach Redis at redis://:****@h:1/0: connection refused",
        "cannot reach Redis at redis://:****@h:1/0: connection refused; "
        "2 more failure(s) since the last report",
    ]
