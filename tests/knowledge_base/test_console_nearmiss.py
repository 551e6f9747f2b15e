"""kb.html in headless Chromium: curators see why a near miss was not answered and fix it in two clicks.

Same real sanic server as ``test_console_page``; skipped only when Debian's chromium is missing.
"""

from __future__ import annotations

import asyncio

import pytest

from common.web import staff_token
from knowledge_base.search import SearchService
from tests.knowledge_base.test_console_page import ARGS, CHROMIUM, server, wait_for  # noqa: F401 (fixture)

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium not installed (ops/install.sh apt)")

VETERAN = "退役军人优待证在哪里申领"
DRONE = "宠物医院晚上开门吗"


async def test_why_and_two_clicks_from_a_near_miss(server: str, seeded: SearchService) -> None:  # noqa: F811
    from playwright.async_api import async_playwright

    for query in (VETERAN, VETERAN, DRONE):
        await asyncio.to_thread(seeded.search, query)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = await browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.add_init_script(f"localStorage.setItem('govbot.staffToken', {staff_token()!r});"
                                   "localStorage.setItem('govbot.staffName', '李四');")
        await page.goto(f"{server}/staff/kb.html")
        await page.wait_for_selector("#entries tr[data-id='sb-001']")
        await page.click(".tabs button[data-tab=unanswered]")
        await page.wait_for_selector("#unanswered button.adopt")

        # Why: the reason names the contrast; the nearest entry is shown with its question.
        row = page.locator("#unanswered tr", has_text=VETERAN).first
        assert "退役军人" in await row.locator("td.reason").text_content()
        assert "mz-010 老年人优待证怎么办？" in await row.text_content()

        # The probe shows score, margin, lead and each candidate's verdict.
        await page.fill("#probe-text", VETERAN)
        await page.click("#probe-go")
        await page.wait_for_selector("#probe-result .verdict-decline")
        probe = await page.text_content("#probe-result")
        assert "得分" in probe and "领先第二名" in probe and "领先闲聊" in probe
        assert "问题提到「退役军人」，条目是「老年人」" in probe

        # Two clicks: "加为问法…" (nearest entry preselected), then "确认加入".
        await row.locator("button.adopt").click()
        await page.wait_for_selector("tr.adopt select.adopt-entry")
        assert await page.input_value("tr.adopt select.adopt-entry") == "mz-010"
        await page.click("tr.adopt button.adopt-confirm")
        await page.wait_for_function("document.querySelector('#notice').textContent.includes('mz-010 的问法')")
        assert seeded.store.get("mz-010").also_answers == [VETERAN]
        assert seeded.store.get("mz-010").updated_by == "李四"
        assert await wait_for(lambda: seeded.search(VETERAN, log_unanswered=False).outcome == "answer")
        assert VETERAN not in await page.text_content("#unanswered")

        # The other path: "新建条目" opens the editor with the question prefilled.
        await page.locator("#unanswered tr", has_text=DRONE).first.locator("button.create-from").click()
        assert await page.input_value("input[name=question]") == DRONE

        # The editor shows and saves the field.
        await page.click(".tabs button[data-tab=entries]")
        await page.fill("#filter-text", "mz-010")
        await page.click("#filter-go")
        await page.wait_for_function("document.querySelectorAll('#entries tr[data-id]').length === 1")
        await page.click("#entries tr[data-id='mz-010']")
        await page.wait_for_function("document.querySelector('#editor-title').textContent.includes('mz-010')")
        assert await page.input_value("textarea[name=also_answers]") == VETERAN
        assert errors == []
        await browser.close()
