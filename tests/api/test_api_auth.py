"""Bearer token and the `authorize` hook."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from tests.api.api_support import MOUNT, AppFactory, url

TOKEN = "s3cret-token"


def test_without_a_token_configured_no_header_is_needed(make_client: AppFactory) -> None:
    assert make_client().get(MOUNT).status_code == 200


def test_with_a_token_every_route_needs_it(make_client: AppFactory) -> None:
    http = make_client(api_token=TOKEN)
    for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": TOKEN}):
        response = http.get(MOUNT, headers=headers)
        assert response.status_code == 401
        assert response.json()["code"] == "UNAUTHORIZED"
        assert response.headers["www-authenticate"] == "Bearer"
    response = http.post(url("plain", "instances"), json={})
    assert response.status_code == 401
    assert http.get(f"{MOUNT}/openapi.json").status_code == 401


def test_the_right_token_is_accepted(make_client: AppFactory) -> None:
    http = make_client(api_token=TOKEN)
    assert http.get(MOUNT, headers={"authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert http.get(MOUNT, headers={"authorization": f"bearer {TOKEN}"}).status_code == 200
    response = http.post(
        url("plain", "instances"), json={}, headers={"authorization": f"Bearer {TOKEN}"}
    )
    assert response.status_code == 201


def test_health_needs_no_token(make_client: AppFactory) -> None:
    http = make_client(api_token=TOKEN)
    assert http.get(f"{MOUNT}/health").status_code == 200
    assert http.get("/health").status_code == 200


def test_authorize_hook_can_refuse(make_client: AppFactory) -> None:
    def only_admins(request: Request) -> bool:
        return request.headers.get("x-role") == "admin"

    http = make_client(authorize=only_admins)
    assert http.get(MOUNT).status_code == 401
    assert http.get(MOUNT, headers={"x-role": "admin"}).status_code == 200
    assert http.get(f"{MOUNT}/health").status_code == 200


def test_async_authorize_hook_and_token_must_both_pass(make_client: AppFactory) -> None:
    async def allow(request: Request) -> bool:
        return request.url.path != f"{MOUNT}/openapi.json"

    http = make_client(api_token=TOKEN, authorize=allow)
    good: dict[str, Any] = {"authorization": f"Bearer {TOKEN}"}
    assert http.get(MOUNT, headers=good).status_code == 200
    assert http.get(MOUNT).status_code == 401
    assert http.get(f"{MOUNT}/openapi.json", headers=good).status_code == 401
