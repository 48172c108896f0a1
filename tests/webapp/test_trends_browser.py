"""The trends page in headless Chromium, served by a real ``airflow api-server``.

Selenium is not installed (dependency conflict), so the test speaks the W3C WebDriver
HTTP protocol to ``/usr/bin/chromedriver`` with ``requests``.  The browser logs in
through Airflow's own login page (simple auth manager), which sets the UI's JWT
cookie; the page is then opened with that cookie only.  Chromium resolves no host
but 127.0.0.1 (``--host-resolver-rules``), so nothing is fetched from the internet.
"""
from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import requests

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
W3C_ELEMENT = "element-6066-11e4-a52e-4f735466cecf"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="headless browser test needs /usr/bin/chromium"),
]


class WebDriver:
    """Just enough of the W3C WebDriver protocol for this test."""

    def __init__(self, url: str, session_id: str) -> None:
        self.url, self.session_id = url, session_id

    def _call(self, method: str, path: str, payload: dict[str, Any] | None = None) -> Any:
        r = requests.request(method, f"{self.url}/session/{self.session_id}{path}", json=payload, timeout=60)
        body = r.json()
        if r.status_code != 200:
            raise AssertionError(f"WebDriver {method} {path}: {r.status_code} {body}")
        return body["value"]

    def get(self, url: str) -> None:
        self._call("POST", "/url", {"url": url})

    def find(self, css: str) -> str:
        return self._call("POST", "/element", {"using": "css selector", "value": css})[W3C_ELEMENT]

    def find_all(self, css: str) -> list[str]:
        return [e[W3C_ELEMENT] for e in self._call("POST", "/elements", {"using": "css selector", "value": css})]

    def text(self, element: str) -> str:
        return self._call("GET", f"/element/{element}/text")

    def attr(self, element: str, name: str) -> str | None:
        return self._call("GET", f"/element/{element}/attribute/{name}")

    def type(self, element: str, text: str) -> None:
        self._call("POST", f"/element/{element}/value", {"text": text})

    def click(self, element: str) -> None:
        self._call("POST", f"/element/{element}/click", {})

    def script(self, js: str, *args: Any) -> Any:
        return self._call("POST", "/execute/sync", {"script": js, "args": list(args)})

    def cookies(self) -> list[dict[str, Any]]:
        return self._call("GET", "/cookie")

    def current_url(self) -> str:
        return self._call("GET", "/url")

    def screenshot(self, path: Path) -> None:
        path.write_bytes(base64.b64decode(self._call("GET", "/screenshot")))

    def wait_for(self, css: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while True:
            found = self.find_all(css)
            if found:
                return found[0]
            if time.monotonic() > deadline:
                raise AssertionError(f"{css!r} did not appear in {timeout} s at {self.current_url()}")
            time.sleep(0.25)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def browser(tmp_path):
    if not CHROMEDRIVER.exists():
        pytest.skip("headless browser test needs /usr/bin/chromedriver")
    port = _free_port()
    log = open(tmp_path / "chromedriver.log", "wb")
    proc = subprocess.Popen([str(CHROMEDRIVER), f"--port={port}"], stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    driver = None
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"{url}/status", timeout=2).json()["value"]["ready"]:
                    break
            except (requests.ConnectionError, ValueError, KeyError):
                pass
            assert time.monotonic() < deadline, "chromedriver did not start"
            time.sleep(0.2)
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": str(CHROMIUM),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                         "--disable-background-networking", "--disable-component-update",
                         "--disable-sync", "--disable-default-apps", "--disable-dev-shm-usage",
                         "--no-default-browser-check", "--hide-scrollbars", "--window-size=1440,1200",
                         f"--user-data-dir={tmp_path / 'profile'}",
                         "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"],
            },
        }}}
        r = requests.post(f"{url}/session", json=caps, timeout=120)
        assert r.status_code == 200, r.text
        driver = WebDriver(url, r.json()["value"]["sessionId"])
        yield driver
    finally:
        if driver is not None:
            requests.delete(f"{url}/session/{driver.session_id}", timeout=30)
        os.killpg(proc.pid, signal.SIGTERM)   # the chromedriver we started, and its browser
        proc.wait(timeout=20)
        log.close()


def test_trends_page_in_chromium(airflow_server, browser):
    base = airflow_server.base_url
    page = f"{base}/ebay-trends/?account=seller_a"

    # 1. Not logged in: the page refuses.
    browser.get(page)
    assert "Not authenticated" in browser.text(browser.find("body"))

    # 2. Log in through Airflow's own login page; it sets the UI's JWT cookie.
    browser.get(f"{base}/auth/login")
    browser.type(browser.wait_for("input[name='username']"), airflow_server.username)
    browser.type(browser.find("input[name='password']"), airflow_server.password)
    browser.click(browser.find("button[type='submit']"))
    deadline = time.monotonic() + 30
    while not any(c["name"] == "_token" for c in browser.cookies()):
        assert time.monotonic() < deadline, "login did not set the _token cookie"
        time.sleep(0.25)

    # 3. The page, with the warehouse's numbers (hand-computed in test_trends_page.py).
    browser.get(page)
    browser.wait_for("#top-movers tr.mover")
    rows = browser.find_all("#top-movers tr.mover")
    assert [browser.attr(r, "data-item-id") for r in rows] == ["1002", "1001", "1003", "1004"]
    assert [browser.attr(r, "data-score") for r in rows] == ["200.00", "29.17", "0.00", "0.00"]
    first = browser.text(rows[1])
    assert "Canon \"EOS\" <R6> & Lens 'Kit' — キヤノン ミラーレス" in first    # escaped, shown as text
    assert "$1,150.00" in first and "$2,300.00" in first
    kpis = browser.text(browser.find("#kpis"))
    for expected in ("ACTIVE LISTINGS\n4", "UNITS SOLD\n3", "$2,800.00", "212", "WATCHERS\n24"):
        assert expected in kpis, (expected, kpis)
    assert "2026-03-03 06:14 UTC" in browser.text(browser.find("#sync"))
    # no script ran from a title, no javascript: link was rendered
    assert browser.script("return document.querySelectorAll('script').length") == 0
    assert browser.script("return [...document.links].filter(a => a.protocol === 'javascript:').length") == 0
    # thumbnails rendered (inline images, nothing fetched)
    assert browser.script(
        "return [...document.querySelectorAll('img.thumb')].every(i => i.complete && i.naturalWidth > 0)")
    ARTIFACTS.mkdir(exist_ok=True)
    browser.screenshot(ARTIFACTS / "trends-page.png")

    # 4. The listing page: three points per history chart.
    browser.click(browser.find("tr.mover[data-item-id='1001'] a.t"))
    browser.wait_for("#chart-price")
    assert len(browser.find_all("#chart-price circle.pt")) == 3
    assert len(browser.find_all("#chart-watchers circle.pt")) == 3
    assert browser.text(browser.find("#listing-title")) == "Canon \"EOS\" <R6> & Lens 'Kit' — キヤノン ミラーレス"
    browser.screenshot(ARTIFACTS / "trends-listing.png")

    # 5. The nav entry inside Airflow's UI.
    browser.get(f"{base}/plugin/ebay-trends")
    frame = browser.wait_for("iframe")
    assert browser.attr(frame, "src").endswith("/ebay-trends/")
    time.sleep(2)
    browser.screenshot(ARTIFACTS / "trends-in-airflow-ui.png")
