"""kb.html in headless Chromium against a real sanic server: list, edit, publish, history, unanswered.

Skipped only when Debian's chromium is not installed (``ops/install.sh apt`` installs it).
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from sanic import Sanic

from common.web import install_error_handlers, staff_token
from knowledge_base import curation
from knowledge_base.api import blueprint
from knowledge_base.search import SearchService
from tests.knowledge_base.conftest import ROOT
from tests.support import serving

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>请到窗口办理。'

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium not installed (ops/install.sh apt)")


@pytest.fixture
async def server(seeded: SearchService):
    app = Sanic(f"kb_console_{uuid.uuid4().hex[:8]}")
    install_error_handlers(app)
    app.blueprint(blueprint(seeded))
    app.static("/staff", str(ROOT / "console" / "static"))
    async with serving(app) as url:
        yield url


async def wait_for(predicate, timeout_s: float = 10.0) -> bool:
    for _ in range(int(timeout_s * 10)):
        if await asyncio.to_thread(predicate):
            return True
        await asyncio.sleep(0.1)
    return False


async def test_curator_workflow_in_the_browser(server: str, seeded: SearchService) -> None:
    from playwright.async_api import async_playwright

    curation.create(seeded.store, {"id": "xss-1", "question": "测试注入的问题", "answer": XSS, "category": "测试",
                                   "status": "published"}, "t")
    await asyncio.to_thread(seeded.search, "宠物医院晚上开门吗")  # lands in the unanswered log
    token = staff_token()
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = await browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
        await page.add_init_script(f"localStorage.setItem('govbot.staffToken', {token!r});"
                                   "localStorage.setItem('govbot.staffName', '张三');")
        await page.goto(f"{server}/staff/kb.html")
        await page.wait_for_selector("#entries tr[data-id='sb-001']")
        assert await page.locator("#entries tr[data-id]").count() >= 150
        assert "共 152 条" in await page.text_content("#count")

        # Filtering, then an answer with markup renders as text.
        await page.fill("#filter-text", "xss-1")
        await page.click("#filter-go")
        await page.wait_for_function("document.querySelectorAll('#entries tr[data-id]').length === 1")
        await page.click("#entries tr[data-id='xss-1']")
        await page.wait_for_selector("#editor:not([hidden])")
        assert await page.text_content("#preview-answer") == XSS
        assert "&lt;img" in await page.inner_html("#preview-answer")
        assert await page.evaluate("window.__xss") is None
        assert await page.locator("#preview-answer img, #preview-answer script").count() == 0

        # Edit a published answer: the next search gets it without a restart.
        await page.fill("#filter-text", "")
        await page.click("#filter-go")
        await page.click("#entries tr[data-id='sb-001']")
        await page.wait_for_function("document.querySelector('#editor-title').textContent.includes('sb-001')")
        await page.fill("textarea[name=answer]", "请带身份证到社保服务大厅补办，当场出卡。")
        assert await page.text_content("#preview-answer") == "请带身份证到社保服务大厅补办，当场出卡。"
        await page.click("#save-entry")
        await page.wait_for_function("document.querySelector('#notice').textContent.includes('已保存 sb-001')")
        assert await wait_for(lambda: seeded.search("社保卡丢了怎么补办", log_unanswered=False)
                              .results[0]["answer"] == "请带身份证到社保服务大厅补办，当场出卡。")
        assert seeded.store.get("sb-001").updated_by == "张三"

        # History with a diff, then restore the first version.
        await page.click("#show-history")
        await page.wait_for_selector("#versions tr")
        assert await page.locator("#versions tr").count() == 2
        await page.locator("#versions tr").nth(1).locator("button", has_text="与当前对比").click()
        await page.wait_for_selector("#diff del")
        assert "当场出卡" in "".join(await page.locator("#diff ins").all_text_contents())
        assert "12333" in "".join(await page.locator("#diff del").all_text_contents())
        await page.locator("#versions tr").nth(1).locator("button.restore").click()
        await page.wait_for_function("document.querySelector('#notice').textContent.includes('已恢复')")
        assert seeded.store.get("sb-001").answer.startswith("先拨打")
        assert seeded.store.get("sb-001").version == 3

        # Unanswered list → create an entry from it → publish.
        await page.click(".tabs button[data-tab=unanswered]")
        await page.wait_for_selector("#unanswered button.create-from")
        assert "宠物医院晚上开门吗" in await page.text_content("#unanswered")
        await page.click("#unanswered button.create-from")
        assert await page.input_value("input[name=question]") == "宠物医院晚上开门吗"
        await page.fill("textarea[name=answer]", "宠物医院由市场主体自主经营，请直接咨询医院。")
        await page.fill("input[name=category]", "城市管理/垃圾分类/养犬")
        await page.click("#save-entry")
        await page.wait_for_function("document.querySelector('#notice').textContent.includes('已保存 kb-')")
        await page.click("#publish-entry")
        await page.wait_for_function("document.querySelector('#notice').textContent.includes('已发布')")
        assert seeded.store.unanswered_rows(10) == []
        created = [e for e in seeded.store.list(status="published") if e.question == "宠物医院晚上开门吗"]
        assert len(created) == 1

        # A bad save shows the server's message, names the field, and changes nothing.
        await page.fill("textarea[name=answer]", "   ")
        await page.evaluate("document.querySelector('textarea[name=answer]').required = false")
        await page.click("#save-entry")
        await page.wait_for_function("document.querySelector('#error').textContent.includes('answer')")
        assert errors == []
        await browser.close()
