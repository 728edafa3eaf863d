"""The HTTP client the admin commands speak through: base URL, headers, timeout and retries."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx

from durable.cli.errors import RequestFailed, http_failure, network_failure
from durable.cli.options import ClientOptions

JSONDict = dict[str, Any]
IDEMPOTENCY_HEADER = "Idempotency-Key"
Params = Mapping[str, str | int | bool | None]


@dataclass(frozen=True)
class Reply:
    status_code: int
    data: JSONDict


def path(*segments: str) -> str:
    """A path under the base URL, each segment escaped (ids may contain ':')."""
    return "/" + "/".join(quote(segment, safe="") for segment in segments)


def retryable(status_code: int) -> bool:
    return status_code == 429 or status_code >= 500


class Api:
    """Sync client for the workflows API. Retries network errors, 5xx and 429 with backoff;
    every POST carries an Idempotency-Key, so a retried one acts once."""

    def __init__(
        self,
        options: ClientOptions,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None],
    ) -> None:
        self.options = options
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=options.base_url,
            headers=options.request_headers(),
            timeout=options.timeout_ms / 1000,
            transport=transport,
        )

    def __enter__(self) -> Api:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._http.close()

    def get(self, url: str, params: Params | None = None) -> JSONDict:
        return self.call("GET", url, params=params).data

    def post(self, url: str, body: JSONDict | None = None) -> JSONDict:
        return self.call("POST", url, body=body).data

    def call(
        self, method: str, url: str, *, params: Params | None = None, body: JSONDict | None = None
    ) -> Reply:
        request = self._http.build_request(
            method,
            url,
            params=_query(params),
            json=body if body is not None else None,
            headers=self._idempotency(method),
        )
        response = self._send_with_retries(request)
        if response.is_error:
            raise http_failure(response)
        return Reply(response.status_code, _json_body(response))

    def _idempotency(self, method: str) -> dict[str, str]:
        """A fresh Idempotency-Key for each mutating request (its retries resend the same
        request, so the server acts once); a key given with --header is sent as it is."""
        if method in ("GET", "HEAD") or IDEMPOTENCY_HEADER in self._http.headers:
            return {}
        return {IDEMPOTENCY_HEADER: f"cli_{uuid.uuid4().hex}"}

    def _send_with_retries(self, request: httpx.Request) -> httpx.Response:
        attempt = 0
        while True:
            last = attempt >= self.options.retries
            try:
                response = self._http.send(request)
            except httpx.TransportError as exc:
                if last:
                    raise network_failure(str(request.url), exc) from exc
            else:
                if last or not retryable(response.status_code):
                    return response
                response.close()
            self._sleep(self.options.retry_delay_ms * 2**attempt / 1000)
            attempt += 1


def _query(params: Params | None) -> dict[str, str | int] | None:
    if not params:
        return None
    return {
        key: ("true" if value else "false") if isinstance(value, bool) else value
        for key, value in params.items()
        if value is not None
    }


def _json_body(response: httpx.Response) -> JSONDict:
    if not response.content:
        return {}
    try:
        data = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RequestFailed(f"Request failed: {response.status_code} response is not JSON") from exc
    return data if isinstance(data, dict) else {"data": data}
