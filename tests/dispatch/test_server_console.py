"""The dispatchers' page (console/static/tickets.html) in headless Chromium against a real dispatch server.

The page is served from another origin (as the gateway serves it at /staff/), so this also proves CORS.
"""

from __future__ import annotations

import os
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from common.settings import ROOT
from tests.dispatch.conftest import STAFF_TOKEN, backend_for, free_port

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="chromium not installed (ops/install.sh apt)")


class StaffPages(SimpleHTTPRequestHandler):
    """console/static under /staff/, as the gateway serves it."""

    def translate_path(self, path: str) -> str:
        path = path.split("?", 1)[0]
        if path.startswith("/staff/"):
            path = path[len("/staff"):]
        return super().translate_path(path)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def pages():
    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port),
                                 partial(StaffPages, directory=str(ROOT / "console" / "static")))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()
    server.server_close()


async def test_dispatcher_page_signs_and_closes(pages, tmp_path: Path):
    from playwright.async_api import async_playwright

    async with backend_for("sqlite", tmp_path, cors_origins=[pages]) as backend:
        evil = '<img src=x onerror="window.hacked=1">井盖丢了'
        first = (await backend.report(service_code="road", lat="39.9", long="116.4", description=evil,
                                      **{"attribute[facility]": "manhole"})).json()[0]["service_request_id"]
        await backend.report(service_code="noise", address_string="幸福路 1 号", description="半夜施工",
                             **{"attribute[noise_source]": "construction"})
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                page = await browser.new_page()
                await page.goto(f"{pages}/staff/tickets.html?api={backend.base}")
                await page.evaluate(f"localStorage.setItem('govbot.staffToken', '{STAFF_TOKEN}')")
                await page.reload()
                rows = page.locator("#tickets tr[data-id]")
                await rows.first.wait_for()
                assert await rows.count() == 2
                row = page.locator(f'#tickets tr[data-id="{first}"]')
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
            finally:
                await browser.close()
        [ticket] = (await backend.http.get(f"/open311/v2/requests/{first}.json")).json()
        assert ticket["status"] == "closed" and ticket["status_notes"] == "已办结：已补装井盖"
