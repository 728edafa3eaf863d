"""Hostile input: random durations, ids, event types, payloads and cursors (property-based), and
bodies that are too big, too deep, not UTF-8, trickled or lying about their length.

Property tests run in-process (TestClient, real Redis); transport tests run against a real uvicorn.
"""

from __future__ import annotations

import base64
import json
import socket
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from durable import workflow
from durable.api import create_app
from durable.durations import to_ms
from durable.errors import InvalidDurationError
from durable.names import ID_MAX, valid_name
from durable.settings import Settings
from tests.conftest import REDIS_URL
from tests.reliability.support import MOUNT, TestClient, api_server, healthy

pytestmark = pytest.mark.timeout(120)

MIB = 1024 * 1024
PROPERTY = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
NO_SURROGATES = st.characters(blacklist_categories=["Cs"])
# JSON values a client may send; integers within the range every JSON parser keeps exact.
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=NO_SURROGATES),
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.dictionaries(st.text(alphabet=NO_SURROGATES, max_size=10), inner, max_size=5)
    ),
    max_leaves=20,
)


@workflow("receiver")
async def receiver(event: Any, step: Any) -> Any:
    got = await step.wait_for_event("in", type="in", timeout="1 h")
    return got.payload


@workflow("plain")
async def plain(event: Any, step: Any) -> Any:
    return event.payload


WORKFLOWS = {"receiver": receiver, "plain": plain}


@pytest.fixture
def api_settings(prefix: str) -> Settings:
    return Settings(redis_url=REDIS_URL, prefix=prefix, enable_runner_tick=True)


@pytest.fixture
def http(api_settings: Settings) -> Iterator[TestClient]:
    app = create_app(api_settings, workflows=WORKFLOWS)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def url(*parts: str) -> str:
    return "/".join((MOUNT, *parts))


def post_json(http: TestClient, path: str, body: Any, *, ascii_only: bool = True) -> Any:
    """Raw JSON bytes, so lone surrogates travel as \\ud800 escapes the way any client may."""
    raw = json.dumps(body, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    return http.post(path, content=raw, headers={"content-type": "application/json"})


def assert_answer(response: Any, ok: tuple[int, ...], code: str | None = None) -> None:
    """A success in `ok`, or a 4xx JSON error (with `code` when given); never a 5xx."""
    assert response.status_code < 500, (response.status_code, response.text)
    if response.status_code in ok:
        return
    body = response.json()
    assert 400 <= response.status_code < 500 and body["code"], response.text
    if code is not None:
        assert body["code"] == code, response.text


def same_json(a: Any, b: Any) -> bool:
    """Equal as JSON: 1, 1.0 and True differ, key order counts."""
    return json.dumps(a) == json.dumps(b)


# -- durations ----------------------------------------------------------------------------------

UNIT_MS = {"ms": 1, "Millisecond": 1, "s": 1000, "SECS": 1000, "m": 60_000, "min": 60_000}
UNIT_MS |= {
    "Minutes": 60_000,
    "h": 3_600_000,
    "hrs": 3_600_000,
    "d": 86_400_000,
    "DAYS": 86_400_000,
    "wks": 7 * 86_400_000,
    "Weeks": 7 * 86_400_000,
    "mo": 30 * 86_400_000,
    "MONTHS": 30 * 86_400_000,
    "y": 365 * 86_400_000,
    "Year": 365 * 86_400_000,
}
DURATION_TEXT = st.from_regex(r"\s?-?[0-9]{0,4}\.?[0-9]{0,3}\s?[a-zA-Z]{0,8}\s?", fullmatch=True)


@settings(max_examples=400, deadline=None)
@given(
    value=st.text()
    | DURATION_TEXT
    | st.integers()
    | st.floats()
    | st.timedeltas()
    | st.none()
    | st.booleans()
    | st.lists(st.integers(), max_size=2)
)
@example(value=10**400)
@example(value=-(10**400))
@example(value=2**1024)
@example(value="9" * 400)
@example(value="1e3 ms")
@example(value=timedelta.max)
def test_a_duration_parses_to_whole_milliseconds_or_raises_invalid_duration(value: Any) -> None:
    try:
        ms = to_ms(value)
    except InvalidDurationError as exc:
        assert repr(value) in str(exc)  # the message names the input
        return
    assert isinstance(ms, int) and not isinstance(ms, bool) and ms >= 0


@settings(max_examples=200, deadline=None)
@given(
    number=st.decimals(min_value=0, max_value=10**6, places=3),
    unit=st.sampled_from(sorted(UNIT_MS)),
    space=st.sampled_from(["", " ", "  "]),
)
def test_well_formed_duration_strings_mean_what_they_say(
    number: Any, unit: str, space: str
) -> None:
    text, expected = f"{number}{space}{unit}", float(number) * UNIT_MS[unit]
    if expected > 2**53:  # about 285,616 years: past what Redis scores hold exactly
        with pytest.raises(InvalidDurationError):
            to_ms(text)
        return
    assert to_ms(text) == round(expected)


# -- ids, event types and event ids ---------------------------------------------------------------


def test_random_instance_ids_are_created_or_refused_with_invalid_instance_id(
    http: TestClient,
) -> None:
    @PROPERTY
    @given(iid=st.text(max_size=140) | st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.:-]{0,130}"))
    def check(iid: str) -> None:
        response = post_json(http, url("plain", "instances"), {"id": iid})
        if not valid_name(iid, ID_MAX):
            assert_answer(response, (), "INVALID_INSTANCE_ID")
            return
        assert response.status_code in (200, 201), response.text
        got = http.get(url("plain", "instances", quote(iid, safe="")))
        assert got.status_code == 200 and got.json()["id"] == iid, got.text

    check()


def test_random_path_segments_never_cause_a_server_error(http: TestClient) -> None:
    post_json(http, url("plain", "instances"), {"id": "known"})

    @PROPERTY
    @given(
        wf=st.sampled_from(["plain", "ghost"]) | st.text(alphabet=NO_SURROGATES, min_size=1),
        iid=st.sampled_from(["known", "missing"]) | st.text(alphabet=NO_SURROGATES, min_size=1),
        tail=st.sampled_from(["", "/history", "/pause", "/events", "/restart"]),
    )
    def check(wf: str, iid: str, tail: str) -> None:
        path = url(quote(wf, safe=""), "instances", quote(iid, safe="")) + tail
        assert_answer(http.get(path), (200,))
        assert_answer(http.post(path, json={}), (200, 201))

    check()


def test_random_event_types_and_ids_are_accepted_or_refused_with_validation_error(
    http: TestClient,
) -> None:
    post_json(http, url("receiver", "instances"), {"id": "target"})
    events = url("receiver", "instances", "target", "events")

    @PROPERTY
    @given(etype=st.text(max_size=140), eid=st.none() | st.text(max_size=140))
    def check(etype: str, eid: str | None) -> None:
        body: dict[str, Any] = {"type": etype, "payload": None}
        if eid is not None:
            body["id"] = eid
        response = post_json(http, events, body)
        if valid_name(etype, ID_MAX) and (eid is None or valid_name(eid, ID_MAX)):
            assert response.status_code == 200, response.text
        else:
            assert_answer(response, (), "VALIDATION_ERROR")

    check()


# -- payloads ----------------------------------------------------------------------------------


def test_random_json_payloads_round_trip_exactly_through_events_and_history(
    http: TestClient,
) -> None:
    made = iter(range(10**6))

    @settings(max_examples=80, deadline=None)
    @given(payload=JSON, ascii_only=st.booleans())
    @example(payload=[], ascii_only=True)
    @example(payload={}, ascii_only=False)
    @example(payload=2**53, ascii_only=True)
    @example(payload=-(2**53), ascii_only=True)
    @example(payload={"": [[], {}, 0.1, -0.0, 1e308]}, ascii_only=True)
    @example(payload="日本語 ✓ 😀 \u0000 \u2028 \\ \" '", ascii_only=False)
    @example(payload=[{"ü": {"k": [None, True, False]}}], ascii_only=False)
    def check(payload: Any, ascii_only: bool) -> None:
        iid = f"rt{next(made)}"
        assert post_json(http, url("receiver", "instances"), {"id": iid}).status_code == 201
        body = {"type": "in", "payload": payload, "id": f"{iid}-ev"}
        sent = post_json(
            http, url("receiver", "instances", iid, "events"), body, ascii_only=ascii_only
        )
        assert sent.status_code == 200, sent.text
        assert http.post(url("_runner", "tick"), json={}).status_code == 200
        history = http.get(url("receiver", "instances", iid, "history")).json()
        assert same_json(history["events"][0]["payload"], payload), history["events"]
        assert same_json(history["steps"][0]["result"]["payload"], payload), history["steps"]
        details = http.get(url("receiver", "instances", iid)).json()["details"]
        assert details["status"] == "complete", details
        assert same_json(details["output"], payload), details

    check()


@pytest.mark.parametrize(
    ("route", "raw"),
    [
        (("receiver", "instances", "s1", "events"), b'{"type": "in", "payload": "\\ud800"}'),
        (("receiver", "instances", "s1", "events"), b'{"type": "in", "payload": {"\\udfff": 1}}'),
        (("plain", "instances"), b'{"id": "s2", "params": ["\\udbff"]}'),
    ],
    ids=["payload-string", "payload-key", "params"],
)
def test_lone_surrogate_escapes_are_refused_not_a_server_error(
    http: TestClient, route: tuple[str, ...], raw: bytes
) -> None:
    """`"\\ud800"` is valid JSON text but no Unicode string: it cannot be stored as UTF-8."""
    post_json(http, url("receiver", "instances"), {"id": "s1"})
    response = http.post(url(*route), content=raw, headers={"content-type": "application/json"})
    assert_answer(response, (), "VALIDATION_ERROR")


# -- cursors -----------------------------------------------------------------------------------


def encode_cursor(data: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


CURSORS = (
    st.text(alphabet=NO_SURROGATES, max_size=60)
    | st.binary(max_size=40).map(lambda b: base64.urlsafe_b64encode(b).decode())
    | st.fixed_dictionaries({"s": JSON, "i": JSON}).map(encode_cursor)
    | st.fixed_dictionaries({"p": JSON}).map(encode_cursor)
)


def test_random_cursors_are_invalid_cursor_or_a_valid_page(http: TestClient) -> None:
    for n in range(3):
        post_json(http, url("plain", "instances"), {"id": f"c{n}"})

    @PROPERTY
    @given(cursor=CURSORS)
    @example(cursor=encode_cursor({"s": "x", "i": "c1"}))
    @example(cursor=encode_cursor({"s": None, "i": "c1"}))
    @example(cursor=encode_cursor({"p": "x"}))
    @example(cursor=encode_cursor({"p": {}}))
    def check(cursor: str) -> None:
        listing = http.get(url("plain", "instances"), params={"cursor": cursor, "pageSize": 1})
        assert_answer(listing, (200,), "INVALID_CURSOR")
        if listing.status_code == 200:
            assert isinstance(listing.json()["instances"], list)
        history = url("plain", "instances", "c0", "history")
        for name in ("stepsCursor", "eventsCursor", "logsCursor"):
            params = {name: cursor, "includeLogs": "true"}
            assert_answer(http.get(history, params=params), (200,), "INVALID_CURSOR")

    check()


# -- bodies over a real server -------------------------------------------------------------------

POST_ROUTES = [
    "receiver/instances",
    "receiver/instances/batch",
    "receiver/instances/b1/events",
    "receiver/instances/b1/pause",
    "receiver/instances/b1/resume",
    "receiver/instances/b1/terminate",
    "receiver/instances/b1/restart",
    "receiver/instances/b1/retry-failed-step",
    "_runner/tick",
]


@pytest.fixture
def base(api_settings: Settings) -> Iterator[str]:
    with api_server(api_settings, WORKFLOWS, timeout_graceful_shutdown=2) as server:
        httpx.post(f"{server}{MOUNT}/receiver/instances", json={"id": "b1"}).raise_for_status()
        yield server


def expect_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, (response.request.url, response.text[:200])
    assert response.json()["code"] == code


@pytest.mark.parametrize("route", POST_ROUTES)
def test_oversized_deep_and_non_utf8_bodies_are_client_errors(base: str, route: str) -> None:
    target = f"{base}{MOUNT}/{route}"
    headers = {"content-type": "application/json"}
    big = b'{"payload": "' + b"x" * (2 * MIB) + b'"}'
    expect_error(
        httpx.post(target, content=big, headers=headers, timeout=20), 413, "PAYLOAD_TOO_LARGE"
    )
    deep = b'{"payload": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    expect_error(
        httpx.post(target, content=deep, headers=headers, timeout=20), 400, "VALIDATION_ERROR"
    )
    for raw in (b'{"type": "\xff\xfe"}', b"\xc3\x28", b'{"id": "\xed\xa0\x80"}'):
        expect_error(httpx.post(target, content=raw, headers=headers), 400, "VALIDATION_ERROR")
    assert healthy(base)


def raw_request(base: str, head: bytes, body: bytes = b"") -> socket.socket:
    host, port = base.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.sendall(head + body)
    return sock


def head(content_length: int | str, path: str = "receiver/instances") -> bytes:
    return (
        f"POST {MOUNT}/{path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        f"Content-Length: {content_length}\r\n\r\n"
    ).encode()


def first_response(sock: socket.socket, timeout: float) -> bytes:
    """What the server sent until it closed or went quiet for `timeout` seconds."""
    sock.settimeout(timeout)
    out = b""
    try:
        while b"\r\n\r\n" not in out or not out.endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            out += chunk
    except TimeoutError:
        pass
    return out


@pytest.mark.parametrize("declared", [2 * MIB, 2**63, 10**18])
def test_a_huge_content_length_with_a_small_body_is_refused_at_once(
    base: str, declared: int
) -> None:
    # The rest of the declared body never comes: any answer at all was given without it.
    with raw_request(base, head(declared), b"{}") as sock:
        answer = first_response(sock, timeout=10)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b'"code":"PAYLOAD_TOO_LARGE"' in answer


def test_an_absurd_content_length_is_a_client_error(base: str) -> None:
    with raw_request(base, head("1" + "0" * 40), b"{}") as sock:
        answer = first_response(sock, timeout=5)
    assert answer.startswith(b"HTTP/1.1 4"), answer[:200]


def test_a_client_trickling_its_body_then_stalling_does_not_hold_up_the_server(
    base: str,
) -> None:
    stalled = []
    for n in range(20):
        sock = raw_request(base, head(200))
        for byte in b'{"id": "slow':
            sock.sendall(bytes([byte]))
            time.sleep(0.002 if n else 0.02)  # the trickle is the scenario, not a wait
        stalled.append(sock)
    try:
        # The stalled bodies never complete; everyone else is served as usual meanwhile (a
        # server held up by them would let this request time out).
        created = httpx.post(f"{base}{MOUNT}/receiver/instances", json={"id": "fast"}, timeout=10)
        assert created.status_code == 201
        # A client that gives up mid-body (EOF) gets no 5xx: a 4xx or a closed connection.
        stalled[0].shutdown(socket.SHUT_WR)
        answer = first_response(stalled[0], timeout=5)
        assert answer == b"" or answer.startswith(b"HTTP/1.1 4"), answer[:200]
    finally:
        for sock in stalled:
            sock.close()
    assert healthy(base)
    missing = httpx.get(f"{base}{MOUNT}/receiver/instances/slow")
    assert missing.status_code == 404  # nothing half-read was acted on
