"""Reaching Redis: URLs with the password masked, causes in a few words, waiting at start-up,
and outage reports that do not flood the log."""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from redis import Redis
from redis.exceptions import AuthenticationError, RedisError

from durable.errors import ConfigurationError, RedisUnreachableError

log = logging.getLogger("durable.redis")
MASK = "****"
REPORT_EVERY_S = 30.0
FIRST_RETRY_S = 0.05
_CONNECTING = re.compile(r"^Error (-?\d+) connecting to \S+?\.? ")
_UNKNOWN_HOST_ERRNOS = {"-2", "-3", "-5"}  # EAI_NONAME, EAI_AGAIN, EAI_NODATA


def mask_url(url: str) -> str:
    """`redis://user:secret@host:6379/0` -> `redis://user:****@host:6379/0` (also `?password=`)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(an unparsable Redis URL)"
    masked = url
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if at and ":" in userinfo:
        netloc = f"{userinfo.partition(':')[0]}:{MASK}@{hostport}"
        masked = masked.replace(parts.netloc, netloc, 1)
    if "password" in parts.query:
        pairs = [(k, MASK if k == "password" else v) for k, v in parse_qsl(parts.query, True)]
        masked = f"{masked.partition('?')[0]}?{urlencode(pairs, safe='*')}"
    return masked


def describe(exc: BaseException) -> str:
    """Why Redis could not be used, in a few words: "connection refused", "unknown host", ..."""
    while exc.__cause__ is not None and not isinstance(exc, RedisError | OSError):
        exc = exc.__cause__  # StoreUnavailableError and the like wrap the real error
    text = " ".join(str(exc).split()).rstrip(".") or type(exc).__name__
    if isinstance(exc, AuthenticationError):
        return f"authentication failed ({_lower_first(text)})"
    match = _CONNECTING.match(text)
    if match:  # "Error 111 connecting to host:port. <details>"
        text, errno = text[match.end() :], int(match.group(1))
        if str(errno) in _UNKNOWN_HOST_ERRNOS:
            return f"unknown host ({_lower_first(text)})"
        if errno > 0:  # the asyncio client's details are "Connect call failed (...)"
            text = os.strerror(errno)
    if isinstance(exc, TimeoutError) and text == "TimeoutError":
        return "timed out"
    return _lower_first(text)


def _lower_first(text: str) -> str:
    """ "Connection refused" -> "connection refused"; leaves "NOAUTH ..." and "Error 1" alone."""
    if len(text) > 1 and text[0].isupper() and text[1].islower():
        return text[0].lower() + text[1:]
    return text


def unreachable(url: str, exc: BaseException, waited_ms: int | None = None) -> str:
    return str(RedisUnreachableError(mask_url(url), describe(exc), waited_ms))


def wait_for_redis(
    url: str,
    timeout_ms: int,
    *,
    connect: Callable[[str, float], Redis] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Ping Redis until it answers (returns its INFO, possibly empty) or `timeout_ms` passes.

    A refused connection or an unknown host is retried, so a Redis that starts a moment after
    the service is fine; a wrong password is not (it will not fix itself). Raises
    RedisUnreachableError with the masked URL and the cause.
    """
    connect = connect or _connect
    deadline = time.monotonic() + timeout_ms / 1000
    delay = FIRST_RETRY_S
    while True:
        remaining = deadline - time.monotonic()
        try:
            return _ping(connect(url, max(0.1, min(2.0, remaining))))
        except AuthenticationError as exc:
            raise RedisUnreachableError(mask_url(url), describe(exc)) from exc
        except (RedisError, OSError) as exc:
            if time.monotonic() + delay >= deadline:
                raise RedisUnreachableError(mask_url(url), describe(exc), timeout_ms) from exc
            if delay == FIRST_RETRY_S:  # DEBUG: the failure itself is the one line at INFO
                log.debug(
                    "waiting for Redis at %s (%s), up to %g s",
                    mask_url(url), describe(exc), timeout_ms / 1000,
                )  # fmt: skip
        sleep(delay)
        delay = min(delay * 2, 1.0)


def _connect(url: str, timeout_s: float) -> Redis:
    try:
        return Redis.from_url(url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s)
    except ValueError as exc:  # not a redis://, rediss:// or unix:// URL
        raise ConfigurationError(f"invalid Redis URL {mask_url(url)!r}: {exc}") from exc


def _ping(conn: Redis) -> dict[str, Any]:
    try:
        conn.ping()
        try:
            info: Any = conn.info()
        except RedisError:  # a Redis-compatible server without INFO still serves
            info = {}
        return info if isinstance(info, dict) else {}
    finally:
        conn.close()


def describe_server(url: str, info: dict[str, Any]) -> str:
    """`redis://127.0.0.1:6379/0 (Redis 7.0.15, 1.02M used, 3 clients)` from an INFO reply."""
    details = []
    if info.get("redis_version"):
        details.append(f"Redis {info['redis_version']}")
    if info.get("used_memory_human"):
        details.append(f"{info['used_memory_human']} used")
    if info.get("connected_clients") is not None:
        details.append(f"{info['connected_clients']} clients")
    return f"{mask_url(url)} ({', '.join(details)})" if details else mask_url(url)


class OutageReporter:
    """Logs "cannot reach Redis at <url>: <cause>" at most once every `every_s` seconds."""

    def __init__(
        self,
        url: str,
        logger: logging.Logger,
        every_s: float = REPORT_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.logger = logger
        self.every_s = every_s
        self.clock = clock
        self._last: float | None = None
        self._quiet = 0

    def report(self, exc: BaseException) -> None:
        now = self.clock()
        if self._last is not None and now - self._last < self.every_s:
            self._quiet += 1
            return
        more = f"; {self._quiet} more failure(s) since the last report" if self._quiet else ""
        self._last, self._quiet = now, 0
        self.logger.warning("%s%s", unreachable(self.url, exc), more)
