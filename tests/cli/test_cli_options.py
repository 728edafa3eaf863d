"""Global options: before the group, after the command, from the environment; bad flags."""

from __future__ import annotations

import pytest

from tests.cli.cli_support import FakeApi, instance

GET = ("instances", "get", "-w", "approvals", "-i", "inst_1")


@pytest.fixture(autouse=True)
def _routes(api: FakeApi) -> None:
    api.on("GET", "/approvals/instances/inst_1", (200, instance()))
    api.routes[("GET", "/other/approvals/instances/inst_1")] = [(200, instance())]


def test_defaults_to_local_api(api: FakeApi) -> None:
    result = api.run(*GET)
    assert result.exit_code == 0, result.output
    assert str(api.last.url) == "http://127.0.0.1:8000/api/workflows/approvals/instances/inst_1"


def test_base_url_before_the_group(api: FakeApi) -> None:
    result = api.run("-b", "http://api.example:9000/api/workflows", *GET)
    assert result.exit_code == 0, result.output
    assert api.last.url.host == "api.example" and api.last.url.port == 9000


def test_base_url_on_the_subcommand_wins(api: FakeApi) -> None:
    result = api.run("-b", "http://first:1/api/workflows", *GET, "-b", "http://second:2/other/")
    assert result.exit_code == 0, result.output
    assert str(api.last.url) == "http://second:2/other/approvals/instances/inst_1"


def test_base_url_from_env_and_flag_beats_env(api: FakeApi) -> None:
    env = {"DURABLE_BASE_URL": "http://from-env:1/api/workflows"}
    assert api.run(*GET, env=env).exit_code == 0
    assert api.last.url.host == "from-env"
    assert api.run("--base-url", "http://flag:1/api/workflows", *GET, env=env).exit_code == 0
    assert api.last.url.host == "flag"


def test_headers_merge_from_env_group_and_subcommand(api: FakeApi) -> None:
    env = {"DURABLE_HEADERS": "X-Env: 1; X-Shared: env"}
    result = api.run(
        "-H", "X-Group: 2", "-H", "X-Shared: group", *GET, "-H", "x-shared: sub", env=env
    )
    assert result.exit_code == 0, result.output
    headers = api.last.headers
    assert headers["x-env"] == "1" and headers["x-group"] == "2"
    assert headers.get_list("x-shared") == ["sub"]


def test_token_from_env_becomes_bearer_header(api: FakeApi) -> None:
    assert api.run(*GET, env={"DURABLE_API_TOKEN": "s3cret"}).exit_code == 0
    assert api.last.headers["authorization"] == "Bearer s3cret"


def test_token_flag_wins_over_env_and_authorization_header(api: FakeApi) -> None:
    env = {"DURABLE_API_TOKEN": "env"}
    result = api.run("-H", "Authorization: Basic x", *GET, "--token", "flag", env=env)
    assert result.exit_code == 0, result.output
    assert api.last.headers.get_list("authorization") == ["Bearer flag"]


def test_timeout_is_given_to_the_request(api: FakeApi) -> None:
    assert api.run("--timeout", "2500", *GET).exit_code == 0
    assert api.last.extensions["timeout"]["read"] == 2.5
    assert api.run("--timeout", "2500", *GET, "--timeout", "100").exit_code == 0
    assert api.last.extensions["timeout"]["connect"] == 0.1


def test_json_flag_before_the_group_and_after_the_command(api: FakeApi) -> None:
    for args in (("--json", *GET), (*GET, "--json")):
        result = api.run(*args)
        assert result.exit_code == 0, result.output
        assert result.stdout.lstrip().startswith("{") and '"status": "queued"' in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("-H", "no-colon", *GET), "invalid header 'no-colon'"),
        ((*GET, "-H", "Bad Name: x"), "invalid header"),
        (("-b", "ftp://host/x", *GET), "is not an http(s) URL"),
        ((*GET, "--timeout", "0"), "--timeout"),
        ((*GET, "--retries", "-1"), "--retries"),
        ((*GET, "--bogus"), "No such option '--bogus' (see 'durable instances get --help')"),
        (("instances", "get", "-i", "inst_1"), "Missing option '-w'"),
        (("instances", "frobnicate"), "No such command 'frobnicate'"),
    ],
)
def test_bad_flags_exit_2_with_one_line(api: FakeApi, args: tuple[str, ...], message: str) -> None:
    result = api.run(*args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("Error: ")
    assert "Traceback" not in result.output
    assert api.requests == []


def test_bad_headers_env_exits_2(api: FakeApi) -> None:
    result = api.run(*GET, env={"DURABLE_HEADERS": "X-Ok: 1;broken"})
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "Error: DURABLE_HEADERS: invalid header 'broken': expected 'Name: value' "
        "(see 'durable --help')"
    )


def test_group_without_command_shows_help(api: FakeApi) -> None:
    result = api.run("instances")
    assert "Commands:" in result.output and "send-event" in result.output
