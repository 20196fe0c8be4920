"""The /console page in Debian chromium against a real ``coach serve``: the supervisor's and QA's main flows.

Screenshots go to tests/artifacts/console_*.png (git-ignored) for a human look at the Chinese UI.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from .conftest import ROOT, Server

playwright_api = pytest.importorskip("playwright.sync_api")
sync_playwright = playwright_api.sync_playwright
expect = playwright_api.expect
ws_client = pytest.importorskip("websockets.sync.client")

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "tests" / "artifacts"
QA_DATA = ROOT / "tests" / "data" / "qa"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium not installed")


@pytest.fixture
def browser():  # type: ignore[no-untyped-def]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            yield browser
        finally:
            browser.close()


def shot(page, name: str, full: bool = False) -> Path:  # type: ignore[no-untyped-def]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"console_{name}.png"
    page.screenshot(path=str(path), full_page=full)
    return path


def open_console(browser, base: str, token: str):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN",
                                  timezone_id="Asia/Shanghai", accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(f"{base}/console")
    expect(page.locator("#login")).to_be_visible()
    page.fill("#login-token", token)
    page.click("#login-submit")
    expect(page.locator("#who")).to_be_visible()
    page.errors = errors  # checked at the end of each test
    return page


@contextmanager
def agent_socket(server: Server) -> Iterator[Any]:
    """An agent's live connection (the real websockets client), past ``welcome``."""
    with ws_client.connect(server.ws) as ws:
        ws.send(json.dumps({"type": "hello", "token": server.tokens()["agent"], "agent_id": "kf-ui"}))
        assert json.loads(ws.recv(timeout=10))["type"] == "welcome"
        yield ws


def next_push(ws, kind: str = "phrasebook_updated", timeout: float = 5.0) -> dict:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        frame = json.loads(ws.recv(timeout=max(0.01, deadline - time.monotonic())))
        if frame["type"] == kind:
            return frame


def test_edit_then_approve_pushes_phrasebook_updated_to_a_connected_agent(server: Server, browser) -> None:
    with agent_socket(server) as ws:
        _edit_then_approve(server, browser, ws)


def _edit_then_approve(server: Server, browser, ws) -> None:  # type: ignore[no-untyped-def]
    page = open_console(browser, server.base, server.token)
    try:
        expect(page.locator("#tabs a[data-view=templates]")).to_have_class("active")
        expect(page.locator("#tpl-list tr.tpl-row").first).to_be_visible()
        expect(page.locator("#who-role")).to_have_text("主管")
        shot(page, "01_templates")

        page.select_option("#tpl-intent", "delivery_chase")
        page.select_option("#tpl-status", "approved")
        expect(page.locator("#tpl-list tr.tpl-row[data-status=draft]")).to_have_count(0)
        expect(page.locator("#tpl-list tr.tpl-row").first).to_contain_text("催发货")
        page.click("#tpl-new")
        page.fill("#tpl-id", "delivery_chase.console_ui.1")
        expect(page.locator("#tpl-intents .chip[data-intent=delivery_chase]")).to_be_visible()
        page.fill("#tpl-tags", "售后, 测试")
        page.fill("#tpl-text", "亲，这个不关我的事哦，{order_no}已经发出了")
        mark = page.locator("#tpl-preview mark.block")
        expect(mark).to_have_text("不关我的事")
        expect(page.locator("#tpl-preview")).to_contain_text("您的订单")  # placeholder filled with its fallback
        expect(page.locator("#tpl-flags li[data-rule='taboo.not_my_business']")).to_contain_text("推卸责任")
        page.fill("#tpl-text", "亲，{order_no}已经为您发出了哦，预计{days}天左右送达～ {订单}")
        expect(page.locator("#tpl-check")).to_have_attribute("data-state", "error")
        expect(page.locator("#tpl-errors")).to_contain_text("占位符 {订单} 写法不对")
        shot(page, "02_new_template_checked")

        page.fill("#tpl-text", "亲，{order_no}已经为您发出了哦，预计{days}天左右送达～")
        page.click("#tpl-ph .chip[data-name=courier]")  # inserts {courier} at the cursor
        expect(page.locator("#tpl-text")).to_have_value("亲，{order_no}已经为您发出了哦，预计{days}天左右送达～{courier}")
        expect(page.locator("#tpl-check")).to_have_attribute("data-state", "ok")
        page.click("#tpl-save")
        expect(page.locator("#tpl-status-pill")).to_have_text("草稿")
        expect(page.locator("#tpl-version")).to_contain_text("第 1 版")
        saved = next_push(ws)  # a save publishes too (the draft stays invisible to agents)

        page.fill("#tpl-text", "亲，{order_no}已经为您发出了哦，{courier}预计{days}天左右送达～")
        expect(page.locator("#tpl-workflow button[data-to=approved]")).to_be_disabled()  # save first
        page.click("#tpl-save")
        expect(page.locator("#tpl-version")).to_contain_text("第 2 版")
        assert next_push(ws)["revision"] > saved["revision"]

        started = time.monotonic()
        page.click("#tpl-workflow button[data-to=approved]")
        pushed = next_push(ws, timeout=5)
        elapsed = time.monotonic() - started
        assert elapsed < 1.0, f"phrasebook_updated took {elapsed:.2f} s"
        expect(page.locator("#tpl-status-pill")).to_have_text("已审核")
        expect(page.locator("#who-rev")).to_have_text(f"话术库第 {pushed['revision']} 版")
        expect(page.locator("#tpl-workflow button[data-to=retired]")).to_be_visible()
        expect(page.locator("#tpl-check")).to_have_attribute("data-state", "ok")
        expect(page.locator("#tpl-preview")).to_have_text("亲，您的订单已经为您发出了哦，快递预计3-5天左右送达～")
        shot(page, "03_approved")

        page.click("#tpl-history-btn")
        entries = page.locator("#tpl-history .entry")
        expect(entries).to_have_count(3)
        expect(entries.first.locator(".change[data-field=status]")).to_contain_text("草稿 → 已审核")
        expect(entries.nth(1).locator(".change[data-field=text] ins")).to_have_text("{courier}")
        shot(page, "04_history")

        suggestions = httpx.post(f"{server.base}/api/suggest", json={"text": "怎么还没发货，订单发了吗"},
                                 headers={"Authorization": f"Bearer {server.tokens()['agent']}"}).json()["suggestions"]
        assert suggestions  # agents' suggestions come from the published, approved phrasebook
        assert not page.errors, page.errors
    finally:
        page.context.close()


def test_second_supervisor_gets_a_conflict_with_both_versions_and_merges(server: Server, browser) -> None:
    page = open_console(browser, server.base, server.token)
    try:
        page.fill("#tpl-q", "欢迎光临")
        row = page.locator("#tpl-list tr.tpl-row[data-id='greeting.welcome.1']")
        row.click()
        expect(page.locator("#tpl-id")).to_have_value("greeting.welcome.1")
        loaded = page.input_value("#tpl-text")

        other = {"Authorization": f"Bearer {server.tokens()['supervisor']}"}
        item = httpx.get(f"{server.base}/api/console/items/template/greeting.welcome.1", headers=other).json()
        theirs = "亲，您好，欢迎光临小店，有什么可以帮您的吗？"
        saved = httpx.put(f"{server.base}/api/console/items/template", headers=other,
                          json={"data": dict(item["data"], text=theirs), "version": item["version"]})
        assert saved.status_code == 200, saved.text

        mine = "亲，您好呀～很高兴为您服务，请问有什么可以帮您？"
        page.fill("#tpl-text", mine)
        page.click("#tpl-save")
        conflict = page.locator("#tpl-conflict")
        expect(conflict).to_be_visible()
        expect(conflict).to_contain_text("首个主管")
        expect(conflict.locator("tr[data-field=text]")).to_contain_text("双方都改了")
        expect(conflict.locator("tr[data-field=text] td").nth(0)).to_have_text(loaded)
        expect(conflict.locator("tr[data-field=text] td[data-side=yours]")).to_have_text(mine)
        expect(page.locator("#tpl-text")).to_have_value(mine)  # nothing lost while deciding
        shot(page, "05_conflict")

        page.click("#tpl-conflict-merge")
        expect(conflict).to_be_hidden()
        expect(page.locator("#tpl-version")).to_contain_text("第 2 版 · 首个主管")
        expect(page.locator("#tpl-text")).to_have_value(mine)
        page.click("#tpl-save")
        expect(page.locator("#tpl-version")).to_contain_text("第 3 版 · bootstrap")
        stored = httpx.get(f"{server.base}/api/console/items/template/greeting.welcome.1", headers=other).json()
        assert stored["version"] == 3 and stored["data"]["text"] == mine
        assert not page.errors, page.errors
    finally:
        page.context.close()


def test_rules_settings_try_import_and_audit_pages(server: Server, browser) -> None:
    page = open_console(browser, server.base, server.token)
    try:
        page.click("#tabs a[data-view=rules]")
        page.click("#rule-list tr[data-id='taboo.dont_know']")
        expect(page.locator("#rule-test-summary")).to_contain_text("全部符合预期")
        page.fill("#rule-patterns", "不知道\n不晓得")
        page.fill("#rule-ex-pass", page.input_value("#rule-ex-pass") + "\n不晓得您喜欢哪个颜色呢")
        page.fill("#rule-test-input", "这个我也不晓得\n亲，马上帮您查一下")
        expect(page.locator("#rule-test-summary")).to_contain_text("1 个例子不符合预期")
        expect(page.locator("#rule-test-results tr.typed[data-hit='1'] mark")).to_have_text("不晓得")
        shot(page, "06_rule_test")
        page.click("#rule-save")
        expect(page.locator("#rule-errors")).to_contain_text("例子")
        page.fill("#rule-allow", page.input_value("#rule-allow") + "\n不晓得您")
        expect(page.locator("#rule-test-summary")).to_contain_text("全部符合预期")
        page.click("#rule-save")
        expect(page.locator("#rule-version")).to_contain_text("第 2 版")

        page.click("#tabs a[data-view=settings]")
        day = page.locator("#shifts tr").first
        expect(day.locator("input[data-key=id]")).to_have_value("day")
        day.locator("input[data-key=answer_s]").fill("15")
        page.select_option("#variants select[data-key=bargaining]", "haggle")
        expect(page.locator("#variants .variant-card[data-key=bargaining] .desc")).to_contain_text("可以优惠")
        page.click("#settings-save")
        expect(page.locator("#settings-version")).to_contain_text("第 2 版")
        page.locator("#variants").scroll_into_view_if_needed()
        shot(page, "07_settings")
        day.locator("input[data-key=start]").fill("8点")
        page.click("#settings-save")
        expect(page.locator("#settings-errors")).to_contain_text("应为 08:00 这样的时间")

        page.click("#tabs a[data-view=try]")
        page.fill("#try-text", "怎么还没发货啊，都三天了")
        page.fill("#try-order_no", "A20240501")
        page.click("#try-run")
        expect(page.locator("#try-intents .bar-row[data-intent=delivery_chase]")).to_be_visible()
        expect(page.locator("#try-suggestions .suggestion").first).to_contain_text("A20240501")
        expect(page.locator("#try-evidence .chip.keyword").first).to_be_visible()
        shot(page, "08_try")

        page.click("#tabs a[data-view=io]")
        exported = httpx.get(f"{server.base}/api/console/export", params={"format": "csv"},
                             headers={"Authorization": f"Bearer {server.token}"})
        changed = exported.text.replace("亲，您好，欢迎光临", "亲～您好，欢迎光临", 1).encode()
        page.set_input_files("#import-file", files=[{"name": "模板.csv", "mimeType": "text/csv", "buffer": changed}])
        page.click("#import-preview")
        expect(page.locator("#import-result details.updated li")).to_have_count(1)
        expect(page.locator("#import-result details.updated")).to_contain_text("template:greeting.")
        shot(page, "09_import_preview")
        page.click("#import-apply")
        expect(page.locator("#import-result")).to_contain_text("已导入")
        with page.expect_download() as download:
            page.click("button.export[data-format=yaml]")
        assert download.value.suggested_filename.endswith(".yaml")

        page.click("#tabs a[data-view=audit]")
        expect(page.locator("#audit-table tr[data-action='import phrasebook']")).to_have_count(1)
        expect(page.locator("#audit-table tr[data-action='save settings']")).to_have_count(1)
        expect(page.locator("#audit-table tr[data-action='save rule']")).to_have_count(1)
        shot(page, "10_audit")
        assert not page.errors, page.errors
    finally:
        page.context.close()


def test_qa_uploads_a_transcript_sees_the_report_drills_down_and_overrides(server: Server, browser) -> None:
    page = open_console(browser, server.base, server.tokens()["qa"])
    try:
        expect(page.locator("#who-role")).to_have_text("质检")
        expect(page.locator("#tabs a:visible")).to_have_count(1)  # QA sees only the QA dashboard
        expect(page.locator("#view-qa")).to_be_visible()
        expect(page.locator("#qa-reports")).to_contain_text("还没有报告")
        page.set_input_files("#qa-files", [str(QA_DATA / "cases.jsonl"), str(QA_DATA / "chat_export.txt")])
        page.fill("#qa-name", "五一抽检")
        page.fill("#qa-agents", "优品旗舰店*")
        page.click("#qa-upload")
        expect(page.locator("#qa-upload-result")).to_contain_text("已生成报告 #1")
        report = page.locator("#qa-report")
        expect(report).to_be_visible()
        expect(page.locator("#qa-reports tr.report-row[data-id='1']")).to_contain_text("五一抽检")
        expect(page.locator("#qa-cards .card-n").first).to_contain_text("会话")
        assert page.locator("#qa-chart-wait svg rect").count() >= 9
        assert page.locator("#qa-chart-viol svg rect").count() >= 1
        expect(page.locator("#qa-agent-table tbody tr[data-agent='小美']")).to_be_visible()
        assert page.locator("#qa-trend svg circle").count() >= 3
        shot(page, "11_qa_report")

        worst = page.locator("#qa-convs tr.conv-row").first
        key = worst.get_attribute("data-key")
        worst.click()
        conv = page.locator("#qa-conv")
        expect(conv).to_contain_text(f"会话 {key}")
        expect(conv.locator(".msg").first).to_be_visible()
        deduction = conv.locator(".ded").first
        finding = deduction.get_attribute("data-finding-id")
        deduction.locator(".override-btn").click()
        deduction.locator("input[name=reason]").fill("买家先发的联系方式，客服只是复述")
        deduction.locator("button[type=submit]").click()
        overridden = page.locator(f"#qa-conv .ded.overridden[data-finding-id='{finding}']")
        expect(overridden).to_contain_text("已覆核：首个质检")
        expect(page.locator("#toast")).to_contain_text("已覆核")
        overridden.scroll_into_view_if_needed()
        shot(page, "12_qa_drilldown_override")

        with page.context.expect_page() as popup:
            page.click("#qa-html")
        html_page = popup.value
        html_page.wait_for_load_state()
        expect(html_page.locator("h1")).to_contain_text("质检报告")
        expect(html_page.locator("body")).to_contain_text("覆核记录")
        shot(html_page, "13_qa_html_report")
        assert not page.errors, page.errors
    finally:
        page.context.close()


def test_an_agent_token_cannot_use_the_console(server: Server, browser) -> None:
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    try:
        page.goto(f"{server.base}/console")
        page.fill("#login-token", server.tokens()["agent"])
        page.click("#login-submit")
        expect(page.locator("#login-error")).to_contain_text("客服账号不能使用管理台")
        expect(page.locator("#tabs")).to_be_hidden()
        assert page.evaluate("localStorage.getItem('coach.console.token')") is None
        page.fill("#login-token", "wrong")
        page.click("#login-submit")
        expect(page.locator("#login-error")).to_contain_text("需要有效的访问令牌")
        shot(page, "00_login_refused")
    finally:
        context.close()
