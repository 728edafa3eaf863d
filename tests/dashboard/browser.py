"""Headless Chromium for the dashboard tests: Debian's `chromium` and `chromium-driver`.

Selenium is pointed at /usr/bin/chromedriver and the Chromium binary explicitly, so Selenium
Manager never runs (it would try to download a browser or a driver).
"""

from __future__ import annotations

import base64
import shutil
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver

CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
CHROMEDRIVER = "/usr/bin/chromedriver"
MISSING = (
    "headless Chromium is missing: install Debian's packages `chromium` and `chromium-driver` "
    "(apt-get install -y chromium chromium-driver); scripts/test installs them when run as root"
)
DESKTOP = (1280, 900)
PHONE = (375, 812)


def chromium_paths() -> tuple[str, str]:
    binary = next((path for path in CHROMIUM if Path(path).is_file()), None)
    driver = CHROMEDRIVER if Path(CHROMEDRIVER).is_file() else shutil.which("chromedriver")
    if binary is None or driver is None:
        pytest.fail(MISSING)
    return binary, driver


def start_chromium(log_path: Path) -> WebDriver:
    binary, driver = chromium_paths()
    options = Options()
    options.binary_location = binary
    for arg in (
        "--headless=new",
        "--no-sandbox",  # the test command runs as root in CI
        "--disable-dev-shm-usage",
        "--disable-gpu",
        f"--window-size={DESKTOP[0]},{DESKTOP[1]}",
        "--force-device-scale-factor=1",
        "--hide-scrollbars",
        "--lang=en-US",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--password-store=basic",
    ):
        options.add_argument(arg)
    service = Service(executable_path=driver, log_output=str(log_path))
    return webdriver.Chrome(options=options, service=service)


def viewport(browser: WebDriver, size: tuple[int, int], *, mobile: bool) -> None:
    """Emulate a screen of `size` CSS pixels (a phone when `mobile`)."""
    metrics: dict[str, Any] = {
        "width": size[0],
        "height": size[1],
        "deviceScaleFactor": 1,
        "mobile": mobile,
    }
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)


def desktop(browser: WebDriver) -> None:
    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def screenshot(browser: WebDriver, path: Path, height: int | None = None) -> Path:
    """A PNG of the page: the window, or the first `height` CSS pixels of the whole page."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if height is None:
        browser.save_screenshot(str(path))
        return path
    browser.execute_script("window.scrollTo(0, 0)")
    width = browser.execute_script("return window.innerWidth")
    full = browser.execute_script("return document.documentElement.scrollHeight")
    shot = browser.execute_cdp_cmd(
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": width, "height": min(full, height), "scale": 1},
        },
    )
    path.write_bytes(base64.b64decode(shot["data"]))
    return path
