"""Who gets in: open without a token; with one, the bearer header or the login cookie (an HMAC,
never the token); the `authorize` policy; and POSTs only from the dashboard's own pages."""

from __future__ import annotations

import time
from urllib.parse import quote

import pytest
from starlette.requests import Request

from durable.dashboard import session
from tests.dashboard.conftest import TOKEN, AppFactory
from tests.dashboard.support import (
    API,
    JSON,
    ORIGIN,
    DashboardClient,
    create,
    post_form,
    run_until,
    status,
)

LOGIN = "/dashboard/-/login"


@pytest.fixture
def guarded(make_http: AppFactory) -> DashboardClient:
    return make_http(api_token=TOKEN)


def sign_in(http: DashboardClient, token: str = TOKEN, next_path: str = "") -> str:
    """Submit the login form; returns where it redirected to."""
    reply = post_form(http, LOGIN, {"token": token, "next": next_path})
    assert reply.status_code == 303, reply.text
    return reply.headers["location"]


def test_without_a_token_the_dashboard_is_open(http: DashboardClient) -> None:
    page = http.get("/dashboard")
    assert page.status_code == 200 and "Sign out" not in page.text
    login = http.get(LOGIN, follow_redirects=False)
    assert (login.status_code, login.headers["location"]) == (303, "/dashboard")


def test_with_a_token_a_page_opens_the_login_form_and_returns_after(
    guarded: DashboardClient,
) -> None:
    reply = guarded.get("/dashboard/order-approval?status=waiting", follow_redirects=False)
    assert reply.status_code == 303
    wanted = "/dashboard/order-approval?status=waiting"
    assert reply.headers["location"] == f"{LOGIN}?next={quote(wanted, safe='')}"
    form = guarded.get(reply.headers["location"])
    assert form.status_code == 200 and 'type="password"' in form.text
    assert f'name="next" value="{wanted}"' in form.text

    assert sign_in(guarded, next_path=wanted) == wanted
    page = guarded.get(wanted)
    assert page.status_code == 200 and "Sign out" in page.text


def test_the_cookie_is_httponly_strict_and_not_the_token(guarded: DashboardClient) -> None:
    reply = post_form(guarded, LOGIN, {"token": TOKEN})
    cookie = reply.headers["set-cookie"]
    assert cookie.startswith(f"{session.COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/dashboard" in cookie
    assert "Max-Age=43200" in cookie and "Secure" not in cookie  # plain http in this test
    assert TOKEN not in cookie
    value = guarded.cookies[session.COOKIE]
    assert session.session_valid(TOKEN, value) and not session.session_valid("other", value)


def test_a_wrong_token_is_refused_without_a_cookie(guarded: DashboardClient) -> None:
    reply = post_form(guarded, LOGIN, {"token": "guess"})
    assert reply.status_code == 401
    assert "That token is not the one this server was started with." in reply.text
    assert "set-cookie" not in reply.headers
    assert guarded.get("/dashboard", follow_redirects=False).status_code == 303


def test_login_is_refused_from_another_site(guarded: DashboardClient) -> None:
    for origin in ("http://evil.example", None, "null"):
        reply = post_form(guarded, LOGIN, {"token": TOKEN}, origin=origin)
        assert reply.status_code == 403 and "set-cookie" not in reply.headers


def test_forged_or_expired_cookies_do_not_open_it(guarded: DashboardClient) -> None:
    expired = session.session_value(TOKEN, now_s=time.time() - session.SESSION_TTL_S - 5)
    for value in (
        TOKEN,
        "garbage",
        session.session_value("another-token"),
        expired,
        f"{int(time.time()) + 9999999}.{'0' * 64}",
    ):
        guarded.cookies.set(session.COOKIE, value)
        assert guarded.get("/dashboard", follow_redirects=False).status_code == 303, value


def test_the_bearer_header_opens_it_too(guarded: DashboardClient) -> None:
    page = guarded.get("/dashboard", headers={"Authorization": f"Bearer {TOKEN}"})
    assert page.status_code == 200
    wrong = guarded.get("/dashboard", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 200 and 'type="password"' in wrong.text  # the login form


def test_without_credentials_fragments_and_actions_answer_401(guarded: DashboardClient) -> None:
    create(guarded, "order-approval", "o1")
    assert guarded.get("/dashboard/order-approval/o1/live").status_code == 401
    assert guarded.get("/dashboard", headers=JSON).json()["code"] == "UNAUTHORIZED"
    reply = post_form(guarded, "/dashboard/order-approval/o1/terminate", {}, headers=JSON)
    assert reply.status_code == 401
    assert status(guarded, "order-approval", "o1") == "queued"


def test_the_cookie_does_not_open_the_json_api(guarded: DashboardClient) -> None:
    sign_in(guarded)
    assert guarded.get(API).status_code == 401
    assert guarded.get(API, headers=guarded.api_headers).status_code == 200


def test_sign_out_ends_the_session(guarded: DashboardClient) -> None:
    sign_in(guarded)
    reply = post_form(guarded, "/dashboard/-/logout", {})
    assert (reply.status_code, reply.headers["location"]) == (303, LOGIN)
    assert f'{session.COOKIE}=""' in reply.headers["set-cookie"]
    assert guarded.get("/dashboard", follow_redirects=False).status_code == 303


@pytest.mark.parametrize(
    "next_path", ["//evil.example/x", "https://evil.example", "/api/workflows", "/dashboard\\x"]
)
def test_login_never_redirects_off_the_dashboard(guarded: DashboardClient, next_path: str) -> None:
    assert sign_in(guarded, next_path=next_path) == "/dashboard"


@pytest.mark.parametrize("token", [None, TOKEN])
def test_posts_from_another_site_are_refused(make_http: AppFactory, token: str | None) -> None:
    http = make_http(api_token=token)
    create(http, "order-approval", "o1")
    run_until(http, "order-approval", "o1", "waiting")
    if token:
        sign_in(http)
    for origin in ("http://evil.example", None):
        reply = post_form(http, "/dashboard/order-approval/o1/terminate", {}, origin=origin)
        assert reply.status_code == 403, origin
        assert "did not come from this dashboard" in reply.text
    assert status(http, "order-approval", "o1") == "waiting"
    # a page of this server may (Referer stands in when a browser leaves Origin out)
    referer = {"Referer": f"{ORIGIN}/dashboard/order-approval/o1"}
    reply = post_form(http, "/dashboard/order-approval/o1/pause", {}, origin=None, headers=referer)
    assert reply.status_code == 303
    assert status(http, "order-approval", "o1") == "paused"


def test_a_bearer_post_needs_no_origin(guarded: DashboardClient) -> None:
    create(guarded, "order-approval", "o1")
    bearer = {"Authorization": f"Bearer {TOKEN}", **JSON}
    path = "/dashboard/order-approval/o1/pause"
    reply = post_form(guarded, path, {}, origin=None, headers=bearer)
    assert reply.status_code == 200 and reply.json()["ok"] is True


def test_the_authorize_policy_guards_the_dashboard_too(make_http: AppFactory) -> None:
    async def only_ada(request: Request) -> bool:
        return request.headers.get("x-user") == "ada"

    http = make_http(authorize=only_ada)
    refused = http.get("/dashboard")
    assert refused.status_code == 401 and "access policy" in refused.text
    assert http.get("/dashboard", headers={"x-user": "ada"}).status_code == 200
    assert http.get("/dashboard/-/static/dashboard.css").status_code == 200  # styles for all


def test_session_values_expire_and_compare_in_constant_time() -> None:
    now = 1_800_000_000
    value = session.session_value(TOKEN, now_s=now)
    assert session.session_valid(TOKEN, value, now_s=now + 60)
    assert not session.session_valid(TOKEN, value, now_s=now + session.SESSION_TTL_S + 1)
    assert not session.session_valid(TOKEN, None, now_s=now)
    assert session.token_matches(f" {TOKEN}\n", TOKEN) and not session.token_matches("x", TOKEN)
