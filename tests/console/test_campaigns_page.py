"""campaigns.html in headless Chromium against a real sanic server with the ``/api/campaigns`` blueprint and a
real SQLite campaign store in the test's data dir.

The operator's path: create a campaign (a field error shown beside the field), upload a list with bad rows
(per-row errors, nothing imported), import the valid rows, start; a dialler (the same store, used as
campaigns/dialler.py does) places calls and the live progress follows without a click; the day's report by
community and grid and the follow-up list are exported as CSV, a follow-up is marked done; pause / resume /
stop; the do-not-call list. A second test edits a running campaign: the form loaded from the store, a refused
field, a question with answers, and an edit saved meanwhile by someone else. The API's clock is the campaign
tests' ``NOW`` (Monday 09:05 Asia/Shanghai, inside the window). Skipped only when Debian's chromium is missing.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from campaigns.config import CampaignsConfig
from campaigns.store import Store
from common import settings
from common.web import staff_token
from tests.campaigns.apps import campaigns_app, forget, private_data_dir
from tests.campaigns.conftest import NOW, make_spec, residents
from tests.support import serving

ROOT = settings.ROOT
CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
XSS_NAME = '<img src=x onerror="window.__xss=1">李四'
XSS_CELL = '"' + XSS_NAME.replace('"', '""') + '"'  # as Excel quotes a cell with quotes in it
# Row 4 has a number too short to be one, row 5 repeats row 2's number in another spelling.
NAMES = ("姓名,电话,地址,社区,网格\n"
         "张三,138 0013 8000,幸福路1号,东湖社区,网格1\n"
         f"{XSS_CELL},13800138001,幸福路2号,东湖社区,网格2\n"
         "赵六,12,幸福路4号,东湖社区,网格1\n"
         "王五,+86 138-0013-8000,幸福路3号,东湖社区,网格1\n"
         "钱七,13800138002,幸福路5号,东湖社区,网格3\n")
CAMPAIGN = "东湖社区居家健康监测"
BUSY_RETRY = timedelta(minutes=11)  # past [campaigns] default_busy_retry_minutes (10)
WAIT_MS = 10_000  # the page refreshes every 3 s: a wait this long sees at least two refreshes

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium not installed (ops/install.sh apt)")


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    yield from private_data_dir(tmp_path, monkeypatch)


@pytest.fixture
async def server(data_dir: Path) -> AsyncIterator[str]:
    app = campaigns_app("campaigns_console")
    app.static("/staff", str(ROOT / "console" / "static"))
    async with serving(app) as url:
        yield url
    forget(app)


@pytest.fixture
def dialler(data_dir: Path) -> Iterator[Store]:
    """The page's store, used the way a dialler process would."""
    store = Store(CampaignsConfig.load())
    yield store
    store.close()


def place_calls(store: Store) -> None:
    """张三 answers with a fever; 李四 is busy twice (2 attempts: unreachable); 钱七 does not answer (retried)."""
    outcomes = {"张三": ("answered", {"temperature": {"value": 38.2, "keys": "38*2#"}, "cough": "no",
                                      "other_symptoms": "no", "needs": "none"}),
                XSS_NAME: ("busy", None), "钱七": ("no_answer", None)}
    claims = store.claim_due(NOW, "dialler-1", 10)
    assert sorted(c.name for c in claims) == sorted(outcomes)
    for claim in claims:
        store.mark_dialing(claim.attempt_id, "dialler-1", NOW)
        store.record_outcome(claim.attempt_id, *outcomes[claim.name], NOW)
    later = NOW + BUSY_RETRY
    [again] = store.claim_due(later, "dialler-1", 10)
    assert again.name == XSS_NAME
    store.mark_dialing(again.attempt_id, "dialler-1", later)
    store.record_outcome(again.attempt_id, "busy", None, later)


def cell(row: str, key: str) -> str:
    return f"document.querySelector('#campaigns tr[data-id] td.{key}').textContent === '{row}'"


async def test_operator_runs_a_campaign_from_the_console(server: str, dialler: Store) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = await browser.new_page(accept_downloads=True)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.add_init_script(f"localStorage.setItem('govbot.staffToken', {staff_token()!r});")
        await page.goto(f"{server}/staff/campaigns.html")
        await page.wait_for_selector("#campaigns td.muted")
        assert "还没有外呼活动" in await page.text_content("#campaigns")

        # Create: the API's refusals appear beside the field they name, then the campaign is made.
        await page.fill("#create-form input[name=name]", CAMPAIGN)
        await page.fill("#create-form input[name=attempts]", "2")
        await page.fill("#create-form input[name=max_channels]", "1000")
        await page.click("#create-go")
        await page.wait_for_function("document.querySelector('#err-max_channels').textContent.includes('上限')")
        await page.fill("#create-form input[name=max_channels]", "5")
        await page.fill("#create-form input[name=times]", "07:00, 16:00")
        await page.click("#create-go")
        await page.wait_for_function("document.querySelector('#err-times').textContent.includes('07:00')")
        assert await page.text_content("#err-max_channels") == ""
        await page.fill("#create-form input[name=times]", "09:00，16:00")
        await page.click("#create-go")
        await page.wait_for_selector("#detail:not([hidden])")
        assert CAMPAIGN in await page.text_content("#detail-title")
        assert "每日 09:00、16:00" in await page.text_content("#detail-spec")
        assert "并发 5 路" in await page.text_content("#detail-spec")
        assert await page.text_content("#detail-state") == "草稿"
        [row] = dialler.list_campaigns()
        assert row["state"] == "draft" and row["spec"]["retry"]["attempts"] == 2
        assert await page.input_value("#create-form input[name=name]") == ""  # ready for the next one
        await page.fill("#create-form input[name=name]", CAMPAIGN)  # the same name again
        await page.click("#create-go")
        await page.wait_for_function("document.querySelector('#err-name').textContent.includes('同名')")

        # Upload with bad rows: per-row errors, nothing imported; then only the valid rows.
        await page.set_input_files("#import-file", files=[
            {"name": "名单.csv", "mimeType": "text/csv", "buffer": NAMES.encode("gbk")}])  # as Excel saves it
        await page.click("#import-go")
        await page.wait_for_selector("#import-errors tr")
        rows = [await r.text_content() for r in await page.locator("#import-errors tr").all()]
        assert len(rows) == 2 and rows[0].startswith("4phone") and rows[1].startswith("5phone")
        assert "未导入任何行" in await page.text_content("#import-result")
        assert dialler.list_targets(row["id"]) == []
        assert await page.text_content("#import-valid") == "只导入有效行（3 行）"
        await page.click("#import-valid")
        await page.wait_for_function("document.querySelector('#import-result').textContent.includes('已导入 3 行')")
        assert await page.is_hidden("#import-valid")
        assert len(dialler.list_targets(row["id"])) == 3
        await page.wait_for_function("document.querySelector('#detail-spec').textContent.includes('名单 3 人')")

        # Start; the dialler works; the live progress follows without a click.
        assert await page.is_hidden("#actions button[data-action=pause]")
        await page.click("#actions button[data-action=start]")
        await page.wait_for_function("document.querySelector('#detail-state').textContent === '进行中'")
        assert await page.is_hidden("#actions button[data-action=start]")
        await asyncio.to_thread(place_calls, dialler)
        # Placed and answered count calls (李四 was rung twice), the others slots (campaigns/store/report.py).
        for key, value in (("placed", "4"), ("answered", "1"), ("completed", "1"), ("abnormal", "1"),
                           ("unreachable", "1"), ("retrying", "1")):
            await page.wait_for_function(cell(value, key), timeout=WAIT_MS)
            assert await page.text_content(f"#progress .card.{key} b") == value
        assert await page.text_content("#progress .card.on_line b") == "0"

        # The day's results by community and grid (today in the campaign's zone), and their CSV.
        for key, value in (("slots", "6"), ("residents", "3"), ("reached", "1"), ("normal", "0"), ("abnormal", "1"),
                           ("unreachable", "1"), ("in_progress", "4")):
            await page.wait_for_function(
                f"document.querySelector('#report tr.total td.{key}')?.textContent === '{value}'", timeout=WAIT_MS)
        assert await page.text_content("#report-meta") == "2026-03-02（Asia/Shanghai）"
        grids = [await r.locator("td").nth(1).text_content() for r in await page.locator("#report tr").all()]
        assert grids == ["网格1", "网格2", "网格3", "小计", ""]
        async with page.expect_download() as info:
            await page.click("#report-export")
        report = await info.value
        assert report.suggested_filename == f"日报-{CAMPAIGN}-2026-03-02.csv"
        table = list(csv.reader(io.StringIO(Path(await report.path()).read_text(encoding="utf-8-sig"))))
        assert table[-1][:3] == ["2026-03-02", "合计", ""] and table[-1][table[0].index("异常")] == "1"

        # The follow-up list: markup in a name stays text; the CSV export downloads what the list shows.
        await page.wait_for_function("document.querySelectorAll('#followups tr[data-slot]').length === 2",
                                     timeout=WAIT_MS)
        listed = await page.text_content("#followups")
        assert "体温" in listed and "38.2" in listed and XSS_NAME in listed and "138 0013 8000" in listed
        assert await page.locator("#followups img").count() == 0 and await page.evaluate("window.__xss") is None
        async with page.expect_download() as info:
            await page.click("#followup-export")
        download = await info.value
        assert download.suggested_filename == f"人工补漏-{CAMPAIGN}.csv"
        data = Path(await download.path()).read_bytes()
        assert data.startswith(b"\xef\xbb\xbf")
        header, *lines = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
        by_name = {line[header.index("姓名")]: line for line in lines}
        assert set(by_name) == {"张三", XSS_NAME}
        assert by_name["张三"][header.index("类别")] == "异常"
        assert by_name[XSS_NAME][header.index("类别")] == "未接通"

        # Marking one done needs a name; then it leaves the open list (and shows with "含已处理").
        fever = page.locator("#followups tr[data-slot]", has_text="张三")
        await fever.locator("input").fill("已电话联系，安排复测")
        await fever.locator("button.done").click()
        await page.wait_for_function("document.querySelector('#err-by').textContent.includes('处理人')")
        await page.fill("#followup-by", "网格员王五")
        await fever.locator("button.done").click()
        await page.wait_for_function("document.querySelectorAll('#followups tr[data-slot]').length === 1")
        assert "张三" not in await page.text_content("#followups")
        await page.check("#followup-all")
        await page.wait_for_function("document.querySelector('#followups').textContent.includes('网格员王五 已处理')")
        assert "安排复测" in await page.text_content("#followups")
        [done] = [f for f in dialler.followups(row["id"], NOW, include_done=True) if f["name"] == "张三"]
        assert done["follow_up_done_by"] == "网格员王五"

        # Pause, resume, stop: the buttons follow the state.
        for action, label in (("pause", "已暂停"), ("resume", "进行中"), ("stop", "已结束")):
            await page.click(f"#actions button[data-action={action}]")
            await page.wait_for_function(f"document.querySelector('#detail-state').textContent === '{label}'")
        assert await page.locator("#actions button:not([hidden])").count() == 0
        assert dialler.get_campaign(row["id"])["state"] == "stopped"

        # The do-not-call list: a bad number is named beside the field; add, then remove.
        await page.select_option("#dnc-form select[name=kind]", "health_check")
        await page.fill("#dnc-form input[name=phone]", "12345")
        await page.click("#dnc-add")
        await page.wait_for_function("document.querySelector('#err-dnc-phone').textContent !== ''")
        await page.fill("#dnc-form input[name=phone]", "139-0013-9000")
        await page.fill("#dnc-form input[name=reason]", "居民要求")
        await page.click("#dnc-add")
        await page.wait_for_selector("#dnc tr[data-phone='+8613900139000']")
        assert await page.text_content("#err-dnc-phone") == ""
        assert "139 0013 9000" in await page.text_content("#dnc") and "居民要求" in await page.text_content("#dnc")
        assert [item["phone"] for item in dialler.list_dnc("health_check")] == ["+8613900139000"]
        await page.click("#dnc tr[data-phone='+8613900139000'] button.remove")
        await page.wait_for_function("document.querySelector('#dnc').textContent.includes('免打扰名单为空')")
        assert dialler.list_dnc() == []
        assert errors == []
        await browser.close()


async def test_operator_edits_a_campaign_from_the_console(server: str, dialler: Store) -> None:
    """Edit loads the stored settings, saves only what changed, shows the API's refusals beside their field,
    and an edit saved meanwhile by someone else is refused (then reloaded), never overwritten."""
    from playwright.async_api import async_playwright

    row = dialler.create_campaign(make_spec(dialler.config), NOW)
    dialler.add_targets(row["id"], residents(2), NOW)
    dialler.set_state(row["id"], "start", NOW)
    answered, on_line = dialler.claim_due(NOW, "dialler-1", 10)
    for claim in (answered, on_line):
        dialler.mark_dialing(claim.attempt_id, "dialler-1", NOW)
    dialler.record_outcome(answered.attempt_id, "answered", {"temperature": 36.6, "cough": "no"}, NOW)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = await browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.add_init_script(f"localStorage.setItem('govbot.staffToken', {staff_token()!r});")
        await page.goto(f"{server}/staff/campaigns.html")
        await page.click(f"#campaigns tr[data-id='{row['id']}']")
        await page.wait_for_selector("#detail:not([hidden])")
        await page.wait_for_function(  # the second resident's call is on the line
            "document.querySelector('#progress .card.on_line b')?.textContent === '1'")
        assert await page.text_content("#progress .card.placed b") == "2"

        await page.click("#edit-open")
        await page.wait_for_selector("#edit-form:not([hidden])")
        assert await page.input_value("#edit-form input[name=name]") == CAMPAIGN
        assert await page.input_value("#edit-form input[name=times]") == "09:00, 16:00"
        assert await page.input_value("#edit-form input[name=max_channels]") == "10"
        await page.fill("#edit-form input[name=times]", "07:00, 16:00")
        await page.click("#edit-save")
        await page.wait_for_function("document.querySelector('#err-edit-times').textContent.includes('07:00')")
        await page.fill("#edit-form input[name=times]", "10:00，16:00")
        await page.fill("#edit-form input[name=max_channels]", "4")
        await page.click("#edit-save")
        await page.wait_for_function("document.querySelector('#notice').textContent.includes('已保存')")
        assert "schedule、max_channels" in await page.text_content("#notice")
        assert await page.is_hidden("#edit-form")
        spec = dialler.get_campaign(row["id"])["spec"]
        assert spec["schedule"]["times"] == ["10:00", "16:00"] and spec["max_channels"] == 4
        await page.wait_for_function("document.querySelector('#detail-spec').textContent.includes('每日 10:00、16:00')")

        # A question with recorded answers cannot go: the refusal is shown beside the script.
        await page.click("#edit-open")
        await page.wait_for_selector("#edit-form:not([hidden])")
        await page.evaluate("""() => {
            const f = document.querySelector('#edit-form').elements;
            f.script.value = JSON.stringify(JSON.parse(f.script.value).filter((q) => q.id !== 'temperature'));
            f.abnormal.value = JSON.stringify(JSON.parse(f.abnormal.value).filter((c) => c.question !== 'temperature'));
        }""")
        await page.click("#edit-save")
        await page.wait_for_function("document.querySelector('#err-edit-script').textContent.includes('temperature')")
        await page.fill("#edit-form textarea[name=abnormal]", "[not json")
        await page.click("#edit-save")
        await page.wait_for_function("document.querySelector('#err-edit-abnormal').textContent.includes('JSON')")

        # Someone else saves meanwhile: this form's save is refused; reopened, it shows their change.
        await page.click("#edit-cancel")
        await page.click("#edit-open")
        await page.wait_for_selector("#edit-form:not([hidden])")
        await asyncio.to_thread(dialler.update_campaign, row["id"], {"max_channels": 6}, NOW)
        await page.fill("#edit-form input[name=ring_timeout_s]", "20")
        await page.click("#edit-save")
        await page.wait_for_function("document.querySelector('#err-edit-form').textContent.includes('重新载入')")
        assert dialler.get_campaign(row["id"])["spec"]["ring_timeout_s"] == 30
        await page.click("#edit-open")
        await page.wait_for_function("document.querySelector('#edit-form input[name=max_channels]').value === '6'")
        await page.fill("#edit-form input[name=ring_timeout_s]", "20")
        await page.click("#edit-save")
        await page.wait_for_function("document.querySelector('#edit-form').hidden")
        spec = dialler.get_campaign(row["id"])["spec"]
        assert (spec["ring_timeout_s"], spec["max_channels"]) == (20, 6)

        await page.click("#actions button[data-action=stop]")
        await page.wait_for_function("document.querySelector('#detail-state').textContent === '已结束'")
        assert await page.is_hidden("#edit-open")
        assert errors == []
        await browser.close()
