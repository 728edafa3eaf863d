"""The dashboard in headless Chromium, against a real API and a real worker on a real Redis.

`durable api` (twice: open, and with a token) and `durable worker` run as subprocesses under a
unique key prefix, deleted afterwards. Screenshots land in tests/dashboard/screenshots/.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from tests.cli.cli_support import api_is_up, durable_script, service_env, stop
from tests.conftest import REDIS_URL, delete_prefix
from tests.dashboard.browser import PHONE, desktop, screenshot, start_chromium, viewport
from tests.helpers import free_port, wait_until

pytestmark = pytest.mark.timeout(240)

FLOWS = "tests.dashboard.flows:workflows"
TOKEN = "browser-test-token-7c1f"
SHOTS = Path(__file__).parent / "screenshots"
WAIT_S = 20


@dataclass(frozen=True)
class Server:
    root: str  # http://127.0.0.1:<port>
    headers: dict[str, str]

    @property
    def api(self) -> str:
        return f"{self.root}/api/workflows"

    def create(self, workflow: str, instance_id: str, params: Any = None) -> None:
        body = {"id": instance_id, "params": params or {}}
        reply = httpx.post(f"{self.api}/{workflow}/instances", json=body, headers=self.headers)
        assert reply.status_code in (200, 201), reply.text

    def status(self, workflow: str, instance_id: str) -> str:
        reply = httpx.get(f"{self.api}/{workflow}/instances/{instance_id}", headers=self.headers)
        assert reply.status_code == 200, reply.text
        value: str = reply.json()["details"]["status"]
        return value

    def reaches(self, workflow: str, instance_id: str, status: str) -> None:
        wait_until(lambda: self.status(workflow, instance_id) == status, timeout=WAIT_S)

    def send(self, workflow: str, instance_id: str, type: str, payload: Any) -> None:
        url = f"{self.api}/{workflow}/instances/{instance_id}/events"
        reply = httpx.post(url, json={"type": type, "payload": payload}, headers=self.headers)
        assert reply.status_code == 200, reply.text


@dataclass(frozen=True)
class Services:
    open: Server
    guarded: Server
    logs: Path


def _spawn(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(command, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    redis.Redis.from_url(REDIS_URL).ping()  # the test command starts a Redis: fail, never skip
    prefix = f"t{uuid.uuid4().hex[:12]}"
    logs = tmp_path_factory.mktemp("dashboard-services")
    script = durable_script()
    assert script is not None, "the durable console script is not installed"
    env = service_env(REDIS_URL=REDIS_URL, DURABLE_PREFIX=prefix)
    ports = {"api": free_port(), "guarded": free_port()}
    procs = {
        "worker": _spawn([script, "worker", "--workflows", FLOWS], env, logs / "worker.log"),
        "api": _spawn(
            [script, "api", "--workflows", FLOWS, "--port", str(ports["api"])],
            env,
            logs / "api.log",
        ),
        "guarded": _spawn(
            [script, "api", "--workflows", FLOWS, "--port", str(ports["guarded"])],
            {**env, "DURABLE_API_TOKEN": TOKEN},
            logs / "guarded.log",
        ),
    }
    servers = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    try:
        for name, root in servers.items():

            def up_or_gone(root: str = root, name: str = name) -> bool:
                return api_is_up(f"{root}/api/workflows") or procs[name].poll() is not None

            wait_until(
                up_or_gone,
                timeout=30,
            )
            assert procs[name].poll() is None, (logs / f"{name}.log").read_text()
        guarded = Server(servers["guarded"], {"Authorization": f"Bearer {TOKEN}"})
        yield Services(Server(servers["api"], {}), guarded, logs)
    finally:
        for proc in procs.values():
            stop(proc)
        delete_prefix(prefix)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    driver = start_chromium(tmp_path_factory.mktemp("chromium") / "chromedriver.log")
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def runs(services: Services) -> dict[str, str]:
    """Instances in several states: three waiting for approval, one complete, one errored."""
    server = services.open
    waiting = [f"order-{n}" for n in (1041, 1042, 1043)]
    for n, iid in enumerate(waiting):
        server.create("order-approval", iid, {"orderId": iid, "amount": 120 + n * 15})
    server.create("order-approval", "order-1040", {"orderId": "order-1040", "amount": 99})
    server.create("nightly-report", "report-2026-02-01", {"ok": True})
    server.create("nightly-report", "report-2026-02-02", {"reason": "sales database refused"})
    for iid in ["order-1040", *waiting]:
        server.reaches("order-approval", iid, "waiting")
    server.send("order-approval", "order-1040", "approval", {"approved": True, "by": "ada"})
    server.reaches("order-approval", "order-1040", "complete")
    server.reaches("nightly-report", "report-2026-02-01", "complete")
    server.reaches("nightly-report", "report-2026-02-02", "errored")
    return {"waiting": waiting[-1], "complete": "order-1040", "errored": "report-2026-02-02"}


def wait_for(browser: WebDriver, check: Any, message: str) -> Any:
    return WebDriverWait(browser, WAIT_S, poll_frequency=0.1).until(check, message)


def text(browser: WebDriver, css: str) -> str:
    value: str = browser.find_element(By.CSS_SELECTOR, css).text
    return value


def no_horizontal_overflow(browser: WebDriver) -> bool:
    widths = browser.execute_script(
        "return [document.documentElement.scrollWidth, document.body.scrollWidth,"
        " window.innerWidth]"
    )
    return bool(max(widths[0], widths[1]) <= widths[2])


def test_workflows_page_counts_by_status(
    services: Services, runs: dict[str, str], browser: WebDriver
) -> None:
    browser.get(f"{services.open.root}/dashboard")
    assert browser.title == "Workflows · durable"
    row = browser.find_element(By.XPATH, "//tbody/tr[th/a[text()='order-approval']]")
    assert row.find_element(By.CSS_SELECTOR, "td[data-label='waiting']").text == "3"
    assert row.find_element(By.CSS_SELECTOR, "td[data-label='complete']").text == "1"
    assert row.find_element(By.CSS_SELECTOR, "td[data-label='Total']").text == "4"
    report = browser.find_element(By.XPATH, "//tbody/tr[th/a[text()='nightly-report']]")
    assert report.find_element(By.CSS_SELECTOR, "td[data-label='errored']").text == "1"
    screenshot(browser, SHOTS / "workflows.png")


def test_instances_filtered_by_status(
    services: Services, runs: dict[str, str], browser: WebDriver
) -> None:
    browser.get(f"{services.open.root}/dashboard/order-approval")
    assert len(browser.find_elements(By.CSS_SELECTOR, "tbody tr")) == 4
    browser.find_element(By.CSS_SELECTOR, "nav.filters a.status-waiting").click()
    wait_for(browser, lambda b: "status=waiting" in b.current_url, "the filter link opens")
    rows = browser.find_elements(By.CSS_SELECTOR, "tbody tr")
    ids = [row.get_attribute("data-instance") for row in rows]
    assert ids == ["order-1043", "order-1042", "order-1041"]  # newest first
    badges = {row.find_element(By.CSS_SELECTOR, ".badge").text for row in rows}
    assert badges == {"waiting"}
    active = browser.find_element(By.CSS_SELECTOR, "nav.filters a.active")
    assert active.text.split() == ["waiting", "3"]
    screenshot(browser, SHOTS / "instances.png")


def test_send_event_from_the_page_completes_live(
    services: Services, runs: dict[str, str], browser: WebDriver
) -> None:
    browser.get(f"{services.open.root}/dashboard/order-approval?status=waiting")
    browser.find_element(By.LINK_TEXT, runs["waiting"]).click()
    wait_for(browser, lambda b: b.find_elements(By.ID, "live-summary"), "the instance opens")
    assert text(browser, "#live-summary .summary-head .badge") == "waiting"
    assert "Waits for event approval" in text(browser, "#live-timeline")
    event_type = browser.find_element(By.ID, "event-type")
    assert event_type.get_attribute("value") == "approval"  # what the run waits for
    screenshot(browser, SHOTS / "instance-waiting.png", height=1000)

    browser.execute_script("window.__sameDocument = 'yes'")  # gone if the page reloads
    payload = browser.find_element(By.ID, "event-payload")
    payload.clear()
    payload.send_keys(json.dumps({"approved": True, "by": "grace"}))
    browser.find_element(By.CSS_SELECTOR, "form.event-form button").click()
    wait_for(browser, lambda b: text(b, "#notice") == "Event sent.", "the page says it was sent")
    wait_for(
        browser,
        lambda b: text(b, "#live-summary .summary-head .badge") == "complete",
        "the live part shows the run complete",
    )
    assert browser.execute_script("return window.__sameDocument") == "yes"
    assert browser.find_element(By.CSS_SELECTOR, "form.event-form").get_attribute("hidden")
    timeline = text(browser, "#live-timeline")
    assert "consumed by approval" in timeline
    assert "1 failed attempt" in timeline
    assert "charge-in-cents" in timeline
    output = json.loads(text(browser, "#output"))
    assert output["approved"] is True and output["attempt"] == 2
    assert services.open.status("order-approval", runs["waiting"]) == "complete"
    browser.find_element(By.CSS_SELECTOR, "details.failures summary").click()
    assert "ConnectionError: payment gateway did not answer" in text(browser, "details.failures")
    screenshot(browser, SHOTS / "instance-complete.png", height=1400)


def test_phone_width_renders_without_horizontal_overflow(
    services: Services, runs: dict[str, str], browser: WebDriver
) -> None:
    root = services.open.root
    viewport(browser, PHONE, mobile=True)
    try:
        for path in (
            "/dashboard",
            "/dashboard/order-approval",
            f"/dashboard/nightly-report/{runs['errored']}",
            f"/dashboard/order-approval/{runs['complete']}",
        ):
            browser.get(root + path)
            assert browser.execute_script("return window.innerWidth") == PHONE[0]
            assert no_horizontal_overflow(browser), path
            name = path.strip("/").replace("/", "-")
            screenshot(browser, SHOTS / f"phone-{name}.png", height=1400)
    finally:
        desktop(browser)


def test_errored_instance_shows_error_and_retry(
    services: Services, runs: dict[str, str], browser: WebDriver
) -> None:
    browser.get(f"{services.open.root}/dashboard/nightly-report/{runs['errored']}")
    assert "sales database refused" in text(browser, "#live-summary .error-box")
    retry = browser.find_element(By.CSS_SELECTOR, "form[data-action='retry-failed-step']")
    assert retry.is_displayed()
    assert not browser.find_element(By.CSS_SELECTOR, "form[data-action='pause']").is_displayed()
    screenshot(browser, SHOTS / "instance-errored.png")
    retry.find_element(By.TAG_NAME, "button").click()
    wait_for(browser, lambda b: text(b, "#notice") == "Retrying the failed step.", "retried")
    # the step fails again for good: the live part shows a second failed attempt
    wait_for(
        browser,
        lambda b: (
            "2 failed attempts" in text(b, "#live-timeline")
            and text(b, "#live-summary .summary-head .badge") == "errored"
        ),
        "the retry runs and fails again",
    )


def test_login_with_a_token(services: Services, runs: dict[str, str], browser: WebDriver) -> None:
    root = services.guarded.root
    browser.get(f"{root}/dashboard/order-approval?status=complete")
    wait_for(browser, lambda b: "/dashboard/-/login" in b.current_url, "the login form opens")
    screenshot(browser, SHOTS / "login.png")
    field = browser.find_element(By.ID, "token")
    field.send_keys("not-the-token")
    field.submit()
    wait_for(browser, lambda b: b.find_elements(By.CSS_SELECTOR, ".problem"), "wrong token")
    assert "not the one" in text(browser, ".problem")
    assert browser.get_cookies() == []

    field = browser.find_element(By.ID, "token")
    field.send_keys(TOKEN)
    field.submit()
    wait_for(browser, lambda b: "status=complete" in b.current_url, "back where it started")
    rows = browser.find_elements(By.CSS_SELECTOR, "tbody tr")
    assert runs["complete"] in [row.get_attribute("data-instance") for row in rows]
    assert {row.find_element(By.CSS_SELECTOR, ".badge").text for row in rows} == {"complete"}
    (cookie,) = browser.get_cookies()
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
    assert TOKEN not in cookie["value"]
    assert browser.execute_script("return document.cookie") == ""  # out of scripts' reach

    # the cookie opens the dashboard only; the JSON API still wants the bearer token
    api = httpx.get(f"{root}/api/workflows", cookies={cookie["name"]: cookie["value"]})
    assert api.status_code == 401

    browser.find_element(By.CSS_SELECTOR, "form.signout button").click()
    wait_for(browser, lambda b: "/dashboard/-/login" in b.current_url, "signed out")
    assert browser.get_cookies() == []
