"""The dispatchers' page (console/static/tickets.html) in headless Chromium, through the real gateway.

The gateway and the dispatch server run as real processes (ops/supervisor.py, private ports and data
dir); the page is served by the gateway at /staff/ and calls only the gateway, which relays the
dispatcher API (gateway/dispatch_proxy.py). A link that names another API address must not make the
page send anything, least of all the staff token, to that address.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from common import settings
from common.net import free_port

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
PAGE_TIMEOUT_MS = 15000
pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="chromium not installed (ops/install.sh apt)")


@dataclass
class Console:
    gateway: str
    dispatch: str
    api_key: str
    staff_token: str

    def report(self, **fields: Any) -> str:
        reply = httpx.post(f"{self.dispatch}/open311/v2/requests.json", data={"api_key": self.api_key, **fields},
                           timeout=10)
        assert reply.status_code in (200, 201), reply.text
        return reply.json()[0]["service_request_id"]


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """The gateway and the dispatch server, started as `make run` starts them."""
    from common.web import staff_token
    from ops.supervisor import Supervisor, collect_services

    data_dir = tmp_path_factory.mktemp("console-data")
    env = {"GOVBOT__PATHS__DATA_DIR": str(data_dir), "GOVBOT__TELEPHONY__ENABLED": "false",
           "GOVBOT__GATEWAY__PORT": str(free_port()), "GOVBOT__DISPATCH__PORT": str(free_port())}
    with settings.overrides(env):
        services = [s for s in collect_services(["dispatch", "gateway"]) if s.name in ("dispatch", "gateway")]
        supervisor = Supervisor(services, data_dir / "log")
        try:
            supervisor.start_all(echo=lambda line: None)
            api_key = settings.read_or_create_secret(settings.section("dispatch")["api_key_file"])
            yield Console(settings.base_url("gateway"), settings.base_url("dispatch"), api_key, staff_token())
        finally:
            supervisor.stop_all()


class Listener:
    """A site a crafted link could name: records every request it gets, and would answer CORS for anyone."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, str]] = []  # method, path, authorization
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> None:
                outer.requests.append((self.command, self.path, self.headers.get("authorization", "")))
                self.send_response(200)
                self.send_header("Access-Control-Allow-Origin", "*")
                self.send_header("Access-Control-Allow-Headers", "*")
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            do_GET = do_POST = do_OPTIONS = _record

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


async def open_page(browser: Any, console: Console, url: str, stored_base: str | None = None) -> Any:
    page = await browser.new_page()
    await page.add_init_script(f"localStorage.setItem('govbot.staffToken', {console.staff_token!r});"
                               + (f"localStorage.setItem('govbot.dispatchBase', {stored_base!r});"
                                  if stored_base else ""))
    await page.goto(url)
    return page


async def test_dispatcher_page_signs_and_closes_through_the_gateway(console: Console) -> None:
    from playwright.async_api import async_playwright

    evil = '<img src=x onerror="window.hacked=1">井盖丢了'
    first = console.report(service_code="road", lat="39.9", long="116.4", description=evil,
                           **{"attribute[facility]": "manhole"})
    console.report(service_code="noise", address_string="幸福路 1 号", description="半夜施工",
                   **{"attribute[noise_source]": "construction"})
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = await open_page(browser, console, f"{console.gateway}/staff/tickets.html")
            requests: list[str] = []
            page.on("request", lambda request: requests.append(request.url))
            row = page.locator(f'#tickets tr[data-id="{first}"]')
            await row.wait_for(timeout=PAGE_TIMEOUT_MS)
            assert await page.locator("#tickets tr[data-id]").count() == 2
            assert evil[:20] in await row.inner_text()  # shown as text ...
            assert await page.locator("#tickets img").count() == 0  # ... never as HTML
            assert await page.evaluate("window.hacked") is None
            await page.locator("#metrics .card").nth(5).wait_for()  # metrics load after the list
            assert await page.locator("#metrics .card").count() == 6

            await row.get_by_role("button", name="签收").click()
            await page.locator(f'#tickets tr[data-id="{first}"]', has_text="已签收").wait_for()

            await row.get_by_role("button", name="处理").click()
            await page.locator("#detail h3", has_text=first).wait_for()
            close_form = page.locator("#detail form", has_text="办结")
            await close_form.locator("input[name=result]").fill("已补装井盖")
            await close_form.get_by_role("button", name="办结").click()
            await page.locator("#detail", has_text="重新办理").wait_for()
            assert await page.locator("#error").inner_text() == ""
            assert requests and all(url.startswith(console.gateway + "/") for url in requests)  # one origin
        finally:
            await browser.close()
    [ticket] = httpx.get(f"{console.dispatch}/open311/v2/requests/{first}.json", timeout=10).json()
    assert ticket["status"] == "closed" and ticket["status_notes"] == "已办结：已补装井盖"


async def test_a_link_naming_another_api_address_sends_it_nothing(console: Console) -> None:
    from playwright.async_api import async_playwright

    sid = console.report(service_code="noise", address_string="幸福路 2 号", description="夜里广场舞音响太吵",
                         **{"attribute[noise_source]": "construction"})
    elsewhere = Listener()
    try:
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                link = f"{console.gateway}/staff/tickets.html?api={elsewhere.url}"
                for stored in (None, elsewhere.url):  # the crafted link; an address an older page remembered
                    page = await open_page(browser, console, link, stored_base=stored)
                    # The page has loaded: its list arrived, or it showed an error (when it called elsewhere).
                    await page.wait_for_function(
                        f"document.querySelector('#tickets tr[data-id=\"{sid}\"]') || "
                        "document.getElementById('error').textContent", timeout=PAGE_TIMEOUT_MS)
                    assert elsewhere.requests == []  # no request at all, so no token either
                    assert await page.locator("#error").inner_text() == ""
                    await page.close()
            finally:
                await browser.close()
    finally:
        elsewhere.close()
    assert elsewhere.requests == []
