"""The MV3 extension (browser_ext/) in real Chromium against a real ``coach serve`` process.

Flow: a buyer message typed in /demo (page pane hidden) reaches the service through the content
script and background worker → the side panel shows the intent chip and suggestion cards →
插入 fills ``#agent-input`` → a banned phrase typed there is flagged in the panel → the reply
deadline passes (amber warning, then red breach) → the agent's reply is recorded.

Screenshots of every step go to tests/artifacts/.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SUPERVISOR_TOKEN as TOKEN
from tests.conftest import Server, free_port, start_server

playwright_api = pytest.importorskip("playwright.sync_api")
sync_playwright = playwright_api.sync_playwright
expect = playwright_api.expect

ROOT = Path(__file__).resolve().parents[1]
EXT_DIR = ROOT / "browser_ext"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = "/usr/bin/chromium"

BUYER_TEXT = "怎么还没发货啊，都三天了"
BANNED_DRAFT = "不关我的事，你自己去问快递"
FINAL_REPLY = "亲，非常抱歉让您久等了，这边马上帮您查询物流并持续跟进，有消息第一时间通知您哦"

needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium not installed")


# ---------------------------------------------------------------------------- the service
# ``start_server`` and the ``coach_server`` fixture live in tests/conftest.py.


# ---------------------------------------------------------------------------- helpers
def shot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def launch_with_extension(playwright, user_data_dir: Path):
    ext = str(EXT_DIR)
    return playwright.chromium.launch_persistent_context(
        str(user_data_dir), executable_path=CHROMIUM, headless=True,
        viewport={"width": 1280, "height": 820}, locale="zh-CN",
        args=["--headless=new", f"--disable-extensions-except={ext}", f"--load-extension={ext}", "--no-sandbox",
              "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update",
              "--disable-sync"])


@contextmanager
def extension_browser(profile: Path) -> Iterator[tuple[Any, str]]:
    """Chromium with the unpacked extension loaded: (context, extension id); closed after."""
    with sync_playwright() as p:
        context = launch_with_extension(p, profile)
        try:
            yield context, extension_id(context)
        finally:
            context.close()


def extension_id(context) -> str:
    workers = context.service_workers or [context.wait_for_event("serviceworker", timeout=15000)]
    return workers[0].url.split("/")[2]


def configure(context, ext_id: str, base: str, token: str = TOKEN, agent_id: str = "kf-test", watch_only: bool = False):
    page = context.new_page()
    page.goto(f"chrome-extension://{ext_id}/options.html")
    page.wait_for_selector("body[data-ready='1']")
    page.fill("#server-url", base)
    page.fill("#token", token)
    page.fill("#agent-id", agent_id)
    page.set_checked("#watch-only", watch_only)
    page.click("#save")
    expect(page.locator("#status")).to_have_text("已保存")
    return page


def open_panel(context, ext_id: str):
    panel = context.new_page()
    panel.set_viewport_size({"width": 420, "height": 1000})
    panel.goto(f"chrome-extension://{ext_id}/panel.html")
    return panel


def record_timer_states(page, selector: str = "#timer") -> None:
    """Log every data-state a countdown goes through (the 6 s limit is short)."""
    page.evaluate("""(selector) => {
        const el = document.querySelector(selector);
        window.__timerStates = [el.dataset.state];
        new MutationObserver(() => {
            const s = el.dataset.state;
            if (window.__timerStates[window.__timerStates.length - 1] !== s) window.__timerStates.push(s);
        }).observe(el, {attributes: true, attributeFilter: ['data-state']});
    }""", selector)


def stored_events(data_dir: Path, conversation_id: str) -> list[dict]:
    from assistant.service.store import open_store
    from assistant.settings import Settings

    store = open_store(Settings(data_dir=data_dir))
    try:
        return store.conversation_events(conversation_id)
    finally:
        store.engine.dispose()


# ---------------------------------------------------------------------------- tests
@needs_chromium
def test_extension_coaches_the_demo_console(coach_server: str, tmp_path: Path) -> None:
    with extension_browser(tmp_path / "profile") as (context, ext_id):
        options = configure(context, ext_id, coach_server)
        shot(options, "ext_00_options")
        options.close()

        panel = open_panel(context, ext_id)
        expect(panel.locator("#conn")).to_have_attribute("data-status", "connected", timeout=15000)

        demo = context.new_page()
        demo.goto(f"{coach_server}/demo?pane=0")
        expect(demo.locator("#coach-pane")).to_be_hidden()
        conversation_id = demo.locator("#chat").get_attribute("data-conversation-id")
        expect(panel.locator("#focus-buyer")).to_have_text("小鹿乱撞", timeout=10000)
        expect(panel.locator("#focus-meta")).to_contain_text("3987654321012345678")
        record_timer_states(panel)

        # 1. the buyer asks where the parcel is
        demo.fill("#buyer-input", BUYER_TEXT)
        demo.click("#buyer-send")
        expect(demo.locator(".msg[data-role='buyer']").last.locator(".msg-text")).to_have_text(BUYER_TEXT)
        shot(demo, "ext_01_demo_buyer_message")

        # 2. the panel shows the intent and suggestions
        chip = panel.locator("#intents .chip[data-intent='delivery_chase']")
        expect(chip).to_be_visible(timeout=15000)
        expect(chip).to_contain_text("催发货")
        cards = panel.locator("#suggestions .suggestion")
        expect(cards.first).to_be_visible()
        assert cards.count() >= 1
        expect(panel.locator("#timer")).to_have_attribute("data-state", "running")
        expect(panel.locator("#timer-text")).to_contain_text("剩余")
        shot(panel, "ext_02_panel_coaching")

        # 3. 插入 fills the page's input (nothing is sent)
        first = cards.first
        suggestion_text = first.locator(".suggestion-text").inner_text()
        template_id = first.get_attribute("data-template-id")
        assert template_id
        first.locator(".btn-insert").click()
        expect(demo.locator("#agent-input")).to_have_value(suggestion_text)
        expect(first.locator(".result")).to_have_text("已填入输入框")
        assert demo.locator(".msg[data-role='agent']").count() == 1  # only the history reply: nothing was sent
        shot(demo, "ext_03_demo_inserted")

        # 4. a banned phrase typed into the input is flagged in the panel
        demo.fill("#agent-input", BANNED_DRAFT)
        flag = panel.locator("#flags .flag[data-rule='taboo.not_my_business']")
        expect(flag).to_be_visible(timeout=10000)
        expect(flag).to_contain_text("推卸责任")
        expect(flag).to_contain_text("建议")
        mark = panel.locator("#draft-text mark.flag-span[data-severity='block']")
        expect(mark.first).to_have_text("不关我的事")
        expect(flag.locator(".new")).to_have_text("新")  # first time this span is flagged
        shot(panel, "ext_04_panel_draft_flag")
        # alerted once: typing on around the same span lists it again, but not as new
        demo.locator("#agent-input").press("End")
        demo.locator("#agent-input").press_sequentially("吧", delay=30)
        expect(panel.locator("#draft-text")).to_contain_text("快递吧")
        assert flag.count() == 1
        expect(flag.locator(".new")).to_have_count(0)
        expect(panel.locator("#flags .flag[data-rule='shape.no_honorific'] .new")).to_have_count(0)

        # 5. the deadline passes: amber at the warning, red at the breach
        timer = panel.locator("#timer")
        try:
            expect(timer).to_have_attribute("data-state", "warning", timeout=15000)
            shot(panel, "ext_05_panel_sla_warning")
        except AssertionError:
            pass  # already past the warning: the state log below still has to show it
        expect(timer).to_have_attribute("data-state", "breach", timeout=15000)
        expect(panel.locator("#timer-text")).to_contain_text("已超时")
        states = panel.evaluate("window.__timerStates")
        assert states.index("warning") < states.index("breach"), states
        assert panel.evaluate("getComputedStyle(document.querySelector('#timer')).backgroundColor") == "rgb(255, 241, 240)"
        shot(panel, "ext_06_panel_sla_breach")

        # 6. the agent sends a proper reply: recorded (late)
        demo.fill("#agent-input", FINAL_REPLY)
        demo.click("#agent-send")
        sent = demo.locator(".msg[data-role='agent']").last
        expect(sent.locator(".msg-text")).to_have_text(FINAL_REPLY)
        reply_id = sent.get_attribute("data-message-id")
        last_reply = panel.locator("#last-reply")
        expect(last_reply).to_have_attribute("data-status", "recorded", timeout=10000)
        expect(last_reply).to_have_attribute("data-message-id", reply_id)
        expect(last_reply).to_contain_text("超时")
        expect(panel.locator("#timer")).to_have_attribute("data-state", "replied")
        shot(panel, "ext_07_panel_reply_recorded")
        shot(demo, "ext_07_demo_after_reply")

        # 7. a wrong intent can be corrected (feedback → ack) and a card copied
        panel.select_option("#intent-fix", "shipping_inquiry")
        panel.click("#intent-fix-send")
        expect(panel.locator("#correction-status")).to_have_text("纠正已记录，谢谢！", timeout=10000)
        expect(panel.locator("#intents .chip[data-corrected='1']")).to_contain_text("发货咨询")
        copy_card = cards.nth(1)
        copy_card.locator(".btn-copy").click()
        expect(copy_card.locator(".result")).to_have_text("已复制")
        shot(panel, "ext_08_panel_feedback_and_copy")

        data_dir = tmp_path / "coach-data"
        deadline = time.monotonic() + 10
        while True:
            events = stored_events(data_dir, conversation_id)
            kinds = {(e["message_id"], e["kind"]) for e in events}
            if (reply_id, "agent_reply") in kinds or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert (reply_id, "agent_reply") in kinds, events
        buyer_events = [e for e in events if e["kind"] == "buyer_message"]
        assert [e["text"] for e in buyer_events] == [BUYER_TEXT]


@needs_chromium
def test_extension_resends_unanswered_events_after_a_restart(tmp_path: Path) -> None:
    """The service goes away; a buyer message typed meanwhile is resent (same id) on reconnect."""
    port = free_port()
    data_dir = tmp_path / "coach-data"

    def run_server(tag: str) -> Iterator[Server]:
        log_dir = tmp_path / tag
        log_dir.mkdir()
        return start_server(log_dir, port=port, data_dir=data_dir, COACH_SHIFT_OVERRIDE="day")

    with extension_browser(tmp_path / "profile") as (context, ext_id):
        first = run_server("first")
        base = next(first).base
        configure(context, ext_id, base).close()
        panel = open_panel(context, ext_id)
        expect(panel.locator("#conn")).to_have_attribute("data-status", "connected", timeout=15000)
        demo = context.new_page()
        demo.goto(f"{base}/demo?pane=0")
        expect(panel.locator("#focus-buyer")).to_have_text("小鹿乱撞", timeout=10000)

        first.close()  # stop the service
        expect(panel.locator("#conn")).not_to_have_attribute("data-status", "connected", timeout=15000)
        demo.fill("#buyer-input", "东西坏了，用不了")
        demo.click("#buyer-send")
        message_id = demo.locator(".msg[data-role='buyer']").last.get_attribute("data-message-id")
        expect(panel.locator("#footer")).to_contain_text("待确认 1 条", timeout=5000)
        shot(panel, "ext_09_panel_offline_queued")

        second = run_server("second")
        next(second)
        try:
            expect(panel.locator("#conn")).to_have_attribute("data-status", "connected", timeout=20000)
            expect(panel.locator("#intents .chip").first).to_be_visible(timeout=15000)
            expect(panel.locator("#footer")).not_to_contain_text("待确认")
            shot(panel, "ext_10_panel_resent_after_reconnect")
            conversation_id = demo.locator("#chat").get_attribute("data-conversation-id")
            deadline = time.monotonic() + 10
            while True:
                events = [e for e in stored_events(data_dir, conversation_id) if e["kind"] == "buyer_message"]
                if events or time.monotonic() > deadline:
                    break
                time.sleep(0.3)
            assert [e["message_id"] for e in events] == [message_id]
        finally:
            second.close()


@needs_chromium
def test_extension_watch_only_mode_leaves_the_page_alone(coach_server: str, tmp_path: Path) -> None:
    with extension_browser(tmp_path / "profile") as (context, ext_id):
        configure(context, ext_id, coach_server, watch_only=True).close()
        panel = open_panel(context, ext_id)
        expect(panel.locator("#conn")).to_have_attribute("data-status", "connected", timeout=15000)
        expect(panel.locator("#watch-only-banner")).to_be_visible()
        demo = context.new_page()
        demo.goto(f"{coach_server}/demo?pane=0")
        demo.locator(".conv-item", has_text="王先生").click()
        expect(panel.locator("#focus-buyer")).to_have_text("王先生", timeout=10000)
        demo.fill("#buyer-input", "能便宜点吗？两件打个折")
        demo.click("#buyer-send")
        expect(panel.locator("#intents .chip[data-intent='bargaining']")).to_be_visible(timeout=15000)
        expect(panel.locator("#focus-last")).to_contain_text("能便宜点吗")
        card = panel.locator("#suggestions .suggestion").first
        expect(card.locator(".btn-insert")).to_be_disabled()
        expect(card.locator(".btn-copy")).to_be_enabled()
        # still coaching: the draft typed by the agent is checked
        demo.fill("#agent-input", "加我微信给你便宜")
        expect(panel.locator("#flags .flag[data-severity='block']").first).to_be_visible(timeout=10000)
        expect(demo.locator("#agent-input")).to_have_value("加我微信给你便宜")
        shot(panel, "ext_11_panel_watch_only")


@needs_chromium
def test_extension_modules_in_the_browser(tmp_path: Path) -> None:
    """The pure modules (outbox, backoff, state reducer, spans, adapter choice) run in Chromium."""
    with extension_browser(tmp_path / "profile") as (context, ext_id):
        page = context.new_page()
        page.goto(f"chrome-extension://{ext_id}/options.html")
        result = page.evaluate("""async () => {
            const { Outbox, backoffDelay } = await import('./lib/outbox.js');
            const { emptyState, applyServerFrame, applyPageEvent } = await import('./lib/state.js');
            const { segments } = await import('./lib/spans.js');
            const { pickAdapter } = await import('./adapters/index.js');
            const { websocketUrl } = await import('./lib/config.js');
            const out = {};

            const box = new Outbox();
            box.add({type: 'buyer_message', message_id: 'm1', conversation_id: 'c', text: 'a'});
            box.add({type: 'buyer_message', message_id: 'm1', conversation_id: 'c', text: 'a'});
            box.add({type: 'agent_reply', message_id: 'r1', conversation_id: 'c', text: 'b'});
            box.add({type: 'feedback', message_id: 'm1', intent: 'other'});
            out.queued = box.size;
            box.settle({type: 'coaching', message_id: 'm1'});
            box.settle({type: 'ack', for: 'feedback', message_id: 'm1'});
            out.left = box.frames().map(f => f.type);
            box.settle({type: 'error', code: 'rate_limited', ref: 'r1'});
            out.keptAfterRateLimit = box.size;
            box.settle({type: 'error', code: 'bad_frame', ref: 'r1'});
            out.droppedAfterBadFrame = box.size;
            out.backoff = [0, 1, 2, 3, 4, 5, 9].map(a => backoffDelay(a, () => 0.5));

            const st = emptyState();
            applyServerFrame(st, {type: 'welcome', seq: 7, resumed: false, server_time: Date.now() / 1000, name: 'x'});
            out.seqAfterFresh = st.lastSeq;
            applyServerFrame(st, {type: 'sla_warning', conversation_id: 'c', seconds_left: 1, deadline: 100, seq: 8});
            applyServerFrame(st, {type: 'sla_breach', conversation_id: 'c', overdue_s: 0, deadline: 100, seq: 9});
            applyServerFrame(st, {type: 'sla_warning', conversation_id: 'c', seconds_left: 1, deadline: 100, seq: 8});
            out.roundState = st.conversations.c.round.state;
            out.seq = st.lastSeq;
            applyServerFrame(st, {type: 'welcome', seq: 9, resumed: true, server_time: 0});
            out.seqAfterResume = st.lastSeq;
            applyServerFrame(st, {type: 'welcome', seq: 2, resumed: false, server_time: 0});
            out.seqAfterServerReset = st.lastSeq;
            applyPageEvent(st, {kind: 'draft', conversation_id: 'c', text: '不关我的事你', draft_id: 'd1'}, 1);
            const flag = {rule: 'r', severity: 'block', start: 0, end: 5, match: '不关我的事', message: 'm'};
            const whole = {rule: 'w', severity: 'warn', start: 0, end: 6, match: '不关我的事你', message: 'n'};
            applyServerFrame(st, {type: 'draft_check', conversation_id: 'c', draft_id: 'd1', text: '不关我的事你', flags: [flag, whole], ok: false});
            applyPageEvent(st, {kind: 'draft', conversation_id: 'c', text: '不关我的事你好', draft_id: 'd2'}, 1);
            applyServerFrame(st, {type: 'draft_check', conversation_id: 'c', draft_id: 'd1', text: 'stale', flags: [], ok: true});
            out.staleIgnored = st.conversations.c.draft.check.text;
            applyServerFrame(st, {type: 'draft_check', conversation_id: 'c', draft_id: 'd2', text: '不关我的事你好',
                                  flags: [flag, {...whole, end: 7, match: '不关我的事你好'}], ok: false});
            out.alerts = st.conversations.c.alerts.map(a => a.key);

            out.segments = segments('👍不关我的事', [{start: 1, end: 6, severity: 'block'}]).map(s => [s.text, s.severity]);
            out.adapter = pickAdapter('http://127.0.0.1:8000/demo?pane=0')?.id;
            out.noAdapter = pickAdapter('http://127.0.0.1:8000/console') === null;
            out.ws = [websocketUrl('http://127.0.0.1:8000/'), websocketUrl('https://coach.example.com/x'), websocketUrl('localhost:9000')];
            return out;
        }""")
    assert result["queued"] == 3
    assert result["left"] == ["agent_reply"]
    assert result["keptAfterRateLimit"] == 1
    assert result["droppedAfterBadFrame"] == 0
    assert result["backoff"] == [500, 1000, 2000, 4000, 8000, 10000, 10000]
    assert result["seqAfterFresh"] == 7
    assert result["roundState"] == "breach"  # a late warning never turns red back to amber
    assert result["seq"] == 9
    assert result["seqAfterResume"] == 9
    assert result["seqAfterServerReset"] == 2
    assert result["staleIgnored"] == "不关我的事你"
    assert result["alerts"] == ["r@不关我的事", "w@*"]  # once per span, however the draft grows
    assert result["segments"] == [["👍", None], ["不关我的事", "block"]]
    assert result["adapter"] == "coach-demo"
    assert result["noAdapter"] is True
    assert result["ws"] == ["ws://127.0.0.1:8000/ws/agent", "wss://coach.example.com/x/ws/agent",
                            "ws://localhost:9000/ws/agent"]


@needs_chromium
def test_extension_survives_a_suspended_service_worker(coach_server: str, tmp_path: Path) -> None:
    """MV3 stops idle workers: the state comes back from chrome.storage.session and coaching goes on."""
    with extension_browser(tmp_path / "profile") as (context, ext_id):
        configure(context, ext_id, coach_server).close()
        panel = open_panel(context, ext_id)
        expect(panel.locator("#conn")).to_have_attribute("data-status", "connected", timeout=15000)
        demo = context.new_page()
        demo.goto(f"{coach_server}/demo?pane=0")
        demo.fill("#buyer-input", "能便宜点吗")
        demo.click("#buyer-send")
        expect(panel.locator("#intents .chip[data-intent='bargaining']")).to_be_visible(timeout=15000)

        worker = context.service_workers[0]
        worker.evaluate("self.__beforeStop = true")
        cdp = context.new_cdp_session(panel)
        cdp.send("ServiceWorker.enable")
        cdp.send("ServiceWorker.stopAllWorkers")
        # the panel's port reconnects and wakes a fresh worker, which restores the saved state
        deadline = time.monotonic() + 15
        while True:
            fresh = [w for w in context.service_workers if w.evaluate("self.__beforeStop") is None]
            if fresh or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert fresh, "the service worker was not restarted"
        panel.reload()
        expect(panel.locator("#intents .chip[data-intent='bargaining']")).to_be_visible(timeout=15000)
        expect(panel.locator("#conn")).to_have_attribute("data-status", "connected", timeout=15000)

        demo.fill("#buyer-input", "东西坏了，用不了")
        demo.click("#buyer-send")
        expect(panel.locator("#intents .chip[data-intent='quality_issue']")).to_be_visible(timeout=15000)
        shot(panel, "ext_12_panel_after_worker_restart")
