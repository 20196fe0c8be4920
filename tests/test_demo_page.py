"""The /demo shop console on its own (its coaching pane visible), against a real ``coach serve``.

Same core flow as the extension test: buyer message → intent chips and suggestion cards → 插入
fills ``#agent-input`` → a banned phrase is flagged → amber warning, then red breach → the reply is
recorded.  Also checks the DOM contract the extension's adapter relies on (docs/extension.md).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.test_extension import (
    BANNED_DRAFT,
    BUYER_TEXT,
    CHROMIUM,
    FINAL_REPLY,
    TOKEN,
    needs_chromium,
    record_timer_states,
    shot,
    stored_events,
)

playwright_api = pytest.importorskip("playwright.sync_api")
sync_playwright = playwright_api.sync_playwright
expect = playwright_api.expect




@pytest.fixture
def browser():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                                          "--disable-background-networking", "--disable-component-update",
                                          "--disable-sync"])
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser):
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    return context, context.new_page()


@needs_chromium
def test_demo_page_coaches_on_its_own(coach_server: str, browser, tmp_path: Path) -> None:
    context, page = new_page(browser)
    try:
        page.goto(f"{coach_server}/demo?token={TOKEN}")
        expect(page.locator("#coach-status")).to_have_attribute("data-status", "connected", timeout=15000)
        expect(page.locator("#coach-pane")).to_be_visible()
        conversation_id = page.locator("#chat").get_attribute("data-conversation-id")
        record_timer_states(page, "#pane-timer")
        shot(page, "demo_01_connected")

        page.fill("#buyer-input", BUYER_TEXT)
        page.press("#buyer-input", "Enter")
        chip = page.locator("#pane-intents .chip[data-intent='delivery_chase']")
        expect(chip).to_be_visible(timeout=15000)
        expect(chip).to_contain_text("催发货")
        cards = page.locator("#pane-suggestions .suggestion")
        expect(cards.first).to_be_visible()
        expect(page.locator("#pane-timer")).to_have_attribute("data-state", "running")
        expect(page.locator(".conv-item.active .wait")).to_contain_text("等待回复")
        shot(page, "demo_02_coaching")

        text = cards.first.locator(".s-text").inner_text()
        cards.first.locator(".btn-insert").click()
        expect(page.locator("#agent-input")).to_have_value(text)
        expect(page.locator("#pane-draft")).to_have_text(text, timeout=10000)
        shot(page, "demo_03_inserted")

        page.fill("#agent-input", BANNED_DRAFT)
        flag = page.locator("#pane-flags .flag[data-rule='taboo.not_my_business']")
        expect(flag).to_be_visible(timeout=10000)
        expect(flag).to_contain_text("推卸责任")
        expect(page.locator("#pane-draft mark.flag-span[data-severity='block']").first).to_have_text("不关我的事")
        shot(page, "demo_04_draft_flag")

        timer = page.locator("#pane-timer")
        try:
            expect(timer).to_have_attribute("data-state", "warning", timeout=15000)
            shot(page, "demo_05_sla_warning")
        except AssertionError:
            pass  # already past it: the state log below must still show it
        expect(timer).to_have_attribute("data-state", "breach", timeout=15000)
        expect(page.locator("#pane-timer-text")).to_contain_text("已超时")
        states = page.evaluate("window.__timerStates")
        assert states.index("warning") < states.index("breach"), states
        shot(page, "demo_06_sla_breach")

        page.fill("#agent-input", FINAL_REPLY)
        page.click("#agent-send")
        sent = page.locator(".msg[data-role='agent']").last
        expect(sent.locator(".msg-text")).to_have_text(FINAL_REPLY)
        expect(page.locator("#agent-input")).to_have_value("")
        reply_id = sent.get_attribute("data-message-id")
        expect(page.locator("#pane-reply")).to_have_attribute("data-status", "recorded", timeout=10000)
        expect(page.locator("#pane-reply")).to_contain_text("超时")
        expect(timer).to_have_attribute("data-state", "replied")
        shot(page, "demo_07_reply_recorded")

        deadline = time.monotonic() + 10
        while True:
            kinds = {(e["message_id"], e["kind"]) for e in stored_events(tmp_path / "coach-data", conversation_id)}
            if (reply_id, "agent_reply") in kinds or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert (reply_id, "agent_reply") in kinds
    finally:
        context.close()


@needs_chromium
def test_demo_page_dom_contract_and_pane_toggle(coach_server: str, browser) -> None:
    context, page = new_page(browser)
    try:
        sockets = []
        page.on("websocket", lambda ws: sockets.append(ws.url))
        page.goto(f"{coach_server}/demo?pane=0")
        page.wait_for_selector("body[data-ready='1']")
        expect(page.locator("#coach-pane")).to_be_hidden()
        assert sockets == []  # the page's own coach is off with the pane

        chat = page.locator("#chat")
        conversation_id = chat.get_attribute("data-conversation-id")
        assert conversation_id
        expect(page.locator("#buyer-name")).to_have_text("小鹿乱撞")
        expect(page.locator("#order-no")).to_have_text("3987654321012345678")
        expect(page.locator("#tracking-no")).to_have_text("78512345678901")
        assert page.locator("#agent-input").evaluate("el => el.tagName") == "TEXTAREA"
        for selector in ("#agent-send", "#buyer-input", "#buyer-send"):
            expect(page.locator(selector)).to_be_visible()
        expect(page.locator(".conv-item")).to_have_count(3)

        page.fill("#buyer-input", "你好，在吗")
        page.click("#buyer-send")
        msg = page.locator(".msg").last
        assert msg.get_attribute("data-role") == "buyer"
        assert msg.get_attribute("data-conversation-id") == conversation_id
        assert msg.get_attribute("data-message-id")
        assert abs(float(msg.get_attribute("data-ts")) - time.time()) < 30
        expect(msg.locator(".msg-text")).to_have_text("你好，在吗")

        page.fill("#agent-input", "亲，在的呢")
        page.press("#agent-input", "Enter")
        reply = page.locator(".msg").last
        assert reply.get_attribute("data-role") == "agent"
        expect(reply.locator(".msg-text")).to_have_text("亲，在的呢")

        # switching buyers changes #chat and the info box
        page.locator(".conv-item", has_text="阿May").click()
        expect(chat).to_have_attribute("data-conversation-id", "tb-conv-1002")
        expect(page.locator("#buyer-name")).to_have_text("阿May")
        expect(page.locator("#tracking-no")).to_have_text("YT7412589630147")
        assert page.locator(".msg").evaluate_all(
            "els => els.every(e => e.dataset.conversationId === 'tb-conv-1002')")
        shot(page, "demo_08_pane_hidden_second_buyer")

        # the toggle turns the pane (and its connection) on; the token typed is remembered
        page.fill("#token-input", TOKEN)
        page.click("#pane-toggle")
        expect(page.locator("#coach-pane")).to_be_visible()
        expect(page.locator("#coach-status")).to_have_attribute("data-status", "connected", timeout=15000)
        page.click("#pane-toggle")
        expect(page.locator("#coach-pane")).to_be_hidden()
        expect(page.locator("#coach-status")).to_have_attribute("data-status", "off")
        page.click("#coach-connect")  # connecting turns the pane back on and remembers the token
        expect(page.locator("#coach-status")).to_have_attribute("data-status", "connected", timeout=15000)
        page.goto(f"{coach_server}/demo")
        expect(page.locator("#token-input")).to_have_value(TOKEN)
        expect(page.locator("#coach-status")).to_have_attribute("data-status", "connected", timeout=15000)
    finally:
        context.close()


@needs_chromium
def test_demo_page_reports_a_bad_token(coach_server: str, browser) -> None:
    context, page = new_page(browser)
    try:
        page.goto(f"{coach_server}/demo?token=not-a-real-token")
        expect(page.locator("#coach-status")).to_have_attribute("data-status", "auth_failed", timeout=15000)
        expect(page.locator("#coach-status")).to_contain_text("令牌无效")
    finally:
        context.close()
