"""The console and QA REST routes against a real ``coach serve`` (roles, workflow, conflicts, history)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
import yaml

from .conftest import ROOT, Server

QA_DATA = ROOT / "tests" / "data" / "qa"
BUYER = "能便宜点吗"
NEW_TEMPLATE = {"id": "bargaining.console_test.1", "intents": ["bargaining"],
                "text": "亲，能便宜点吗这个问题我帮您问过了，这款已经是活动价了哦，给您申请一份小赠品吧～", "tags": ["售前", "测试"]}


@pytest.fixture
def clients(server: Server) -> dict[str, httpx.Client]:
    tokens = server.tokens()
    made = {
        "boss": httpx.Client(base_url=server.base, headers={"Authorization": f"Bearer {server.token}"}, timeout=30),
        "boss2": httpx.Client(base_url=server.base, headers={"Authorization": f"Bearer {tokens['supervisor']}"}, timeout=30),
        "qa": httpx.Client(base_url=server.base, headers={"Authorization": f"Bearer {tokens['qa']}"}, timeout=30),
        "agent": httpx.Client(base_url=server.base, headers={"Authorization": f"Bearer {tokens['agent']}"}, timeout=30),
        "nobody": httpx.Client(base_url=server.base, timeout=30),
    }
    yield made
    for c in made.values():
        c.close()


def detail(response: httpx.Response) -> dict[str, Any]:
    return response.json()["detail"]


def upload(c: httpx.Client, *names: str, **form: str) -> httpx.Response:
    files = [("files", (name, (QA_DATA / name).read_bytes())) for name in names]
    return c.post("/api/qa/replay", files=files, data=form)


async def _agent_socket(server: Server, agent_id: str = "kf-console"):  # type: ignore[no-untyped-def]
    ws = await websockets.connect(server.ws)
    await ws.send(json.dumps({"type": "hello", "token": server.tokens()["agent"], "agent_id": agent_id}))
    welcome = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert welcome["type"] == "welcome", welcome
    return ws


async def _next_push(ws, kind: str, timeout: float = 5) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), max(0.01, deadline - time.monotonic())))
        if frame["type"] == kind:
            return frame


# ---------------------------------------------------------------------------- roles
SUPERVISOR_ROUTES = [
    ("GET", "/api/console/meta", None), ("GET", "/api/console/items/template", None),
    ("GET", "/api/console/items/template/greeting.welcome.1", None),
    ("GET", "/api/console/items/template/greeting.welcome.1/history", None),
    ("POST", "/api/console/check/template", {"data": NEW_TEMPLATE}),
    ("PUT", "/api/console/items/template", {"data": NEW_TEMPLATE}),
    ("POST", "/api/console/items/template/greeting.welcome.1/status", {"status": "retired", "version": 1}),
    ("GET", "/api/console/settings", None), ("PUT", "/api/console/settings", {"settings": {}, "version": 1}),
    ("POST", "/api/console/try", {"text": BUYER}), ("GET", "/api/console/export?format=yaml", None),
    ("GET", "/api/console/audit", None),
]
QA_ROUTES = [
    ("GET", "/api/qa/reports", None), ("GET", "/api/qa/reports/1", None), ("GET", "/api/qa/reports/1/html", None),
    ("GET", "/api/qa/reports/1/conversation?key=x", None), ("GET", "/api/qa/trends", None),
    ("POST", "/api/qa/reports/1/overrides", {"finding_id": "x", "reason": "因为"}),
]


def test_roles_are_enforced_on_every_console_and_qa_route(clients: dict[str, httpx.Client]) -> None:
    for method, path, body in SUPERVISOR_ROUTES + QA_ROUTES:
        assert clients["nobody"].request(method, path, json=body).status_code == 401, path
        denied = clients["agent"].request(method, path, json=body)
        assert denied.status_code == 403, (path, denied.text)
        assert "无权" in denied.text and "may not" in denied.text
    for method, path, body in SUPERVISOR_ROUTES:
        assert clients["qa"].request(method, path, json=body).status_code == 403, path
    # uploads and imports are guarded the same way (multipart)
    assert upload(clients["agent"], "cases.jsonl").status_code == 403
    assert clients["agent"].post("/api/console/import", files={"file": ("a.yaml", b"{}")}).status_code == 403
    assert clients["qa"].post("/api/console/import", files={"file": ("a.yaml", b"{}")}).status_code == 403
    # transcripts and reports: QA and supervisors
    assert clients["qa"].get("/api/qa/reports").json() == []
    assert clients["boss"].get("/api/qa/reports").status_code == 200
    # who am I (the page's login) answers every role; the page itself needs no token
    assert clients["agent"].get("/api/console/me").json()["role"] == "agent"
    assert clients["qa"].get("/api/console/me").json()["role"] == "qa"
    page = clients["nobody"].get("/console")
    assert page.status_code == 200 and "话术教练" in page.text and "/static/console.js" in page.text


# ---------------------------------------------------------------------------- workflow
def test_template_workflow_draft_approved_retired_and_agents_see_only_approved(
        server: Server, clients: dict[str, httpx.Client]) -> None:
    boss, agent = clients["boss"], clients["agent"]

    def suggested() -> list[str]:
        answer = agent.post("/api/suggest", json={"text": BUYER})
        assert answer.status_code == 200, answer.text
        return [s["template_id"] for s in answer.json()["suggestions"]]

    async def main() -> None:
        ws = await _agent_socket(server)
        created = boss.put("/api/console/items/template", json={"data": NEW_TEMPLATE})
        assert created.status_code == 200, created.text
        assert created.json()["version"] == 1
        pushed = await _next_push(ws, "phrasebook_updated")
        assert pushed["revision"] == created.json()["revision"]
        item = boss.get(f"/api/console/items/template/{NEW_TEMPLATE['id']}").json()
        assert item["data"]["status"] == "draft" and item["data"]["author"] == "bootstrap"
        assert NEW_TEMPLATE["id"] not in suggested()  # a draft is never shown to agents

        started = time.monotonic()
        approved = boss.post(f"/api/console/items/template/{NEW_TEMPLATE['id']}/status",
                             json={"status": "approved", "version": item["version"]})
        assert approved.status_code == 200, approved.text
        pushed = await _next_push(ws, "phrasebook_updated")
        assert time.monotonic() - started < 1.0, "publishing must reach agents within 1 s"
        assert pushed["revision"] == approved.json()["revision"]
        assert NEW_TEMPLATE["id"] in suggested()

        # the same transition again is refused (the version moved on); approved → draft is not a step
        stale = boss.post(f"/api/console/items/template/{NEW_TEMPLATE['id']}/status",
                          json={"status": "retired", "version": item["version"]})
        assert stale.status_code == 409
        backwards = boss.post(f"/api/console/items/template/{NEW_TEMPLATE['id']}/status",
                              json={"status": "draft", "version": approved.json()["version"]})
        assert backwards.status_code == 422 and "不能" in detail(backwards)["message"]

        retired = boss.post(f"/api/console/items/template/{NEW_TEMPLATE['id']}/status",
                            json={"status": "retired", "version": approved.json()["version"]})
        assert retired.status_code == 200, retired.text
        await _next_push(ws, "phrasebook_updated")
        assert NEW_TEMPLATE["id"] not in suggested()
        await ws.close()

    asyncio.run(main())
    # list, search and filter
    listed = boss.get("/api/console/items/template", params={"status": "retired", "intent": "bargaining",
                                                             "tag": "测试", "q": "活动价"}).json()
    assert [row["data"]["id"] for row in listed["items"]] == [NEW_TEMPLATE["id"]]
    assert listed["total"] > 100 and listed["items"][0]["flags"] == {"block": 0, "warn": 0}
    assert not boss.get("/api/console/items/template", params={"status": "draft", "tag": "测试"}).json()["items"]
    # every step is in the history and the audit log
    history = boss.get(f"/api/console/items/template/{NEW_TEMPLATE['id']}/history").json()
    assert [h["version"] for h in history] == [3, 2, 1]
    assert history[0]["changes"] == [{"field": "status", "before": "approved", "after": "retired"}]
    assert history[2]["action"] == "create" and all(h["actor"] == "bootstrap" for h in history)
    actions = [row["action"] for row in boss.get("/api/console/audit").json()]
    assert actions[:3] == ["template approved → retired", "template draft → approved", "save template"]


def test_new_templates_start_as_drafts_and_approved_ones_must_pass_the_checker(
        clients: dict[str, httpx.Client]) -> None:
    boss = clients["boss"]
    direct = boss.put("/api/console/items/template", json={"data": dict(NEW_TEMPLATE, status="approved")})
    assert direct.status_code == 422 and detail(direct)["errors"][0]["loc"] == "status"
    banned = dict(NEW_TEMPLATE, text="亲，这个不关我的事哦")
    assert boss.put("/api/console/items/template", json={"data": banned}).status_code == 200  # a draft may
    item = boss.get(f"/api/console/items/template/{NEW_TEMPLATE['id']}").json()
    refused = boss.post(f"/api/console/items/template/{NEW_TEMPLATE['id']}/status",
                        json={"status": "approved", "version": item["version"]})
    assert refused.status_code == 422
    assert "拦截" in detail(refused)["message"] and detail(refused)["errors"][0]["loc"] == "text"
    assert boss.get(f"/api/console/items/template/{NEW_TEMPLATE['id']}").json()["data"]["status"] == "draft"


# ---------------------------------------------------------------------------- conflicts
def test_second_save_gets_a_conflict_with_both_versions_and_can_merge(clients: dict[str, httpx.Client]) -> None:
    first, second = clients["boss"], clients["boss2"]
    path = "/api/console/items/template/greeting.welcome.1"
    loaded_a = first.get(path).json()
    loaded_b = second.get(path).json()
    mine_a = dict(loaded_a["data"], text="亲，您好，欢迎光临小店，有什么可以帮您的吗？")
    mine_b = dict(loaded_b["data"], text="亲，您好呀，很高兴为您服务～", tags=[*loaded_b["data"]["tags"], "开场"])
    saved = first.put("/api/console/items/template", json={"data": mine_a, "version": loaded_a["version"]})
    assert saved.status_code == 200, saved.text

    clash = second.put("/api/console/items/template", json={"data": mine_b, "version": loaded_b["version"]})
    assert clash.status_code == 409
    body = detail(clash)
    assert "bootstrap" in body["message"] and "已被" in body["message"] and "conflict" in body["message"]
    conflict = body["conflict"]
    assert conflict["yours"]["text"] == mine_b["text"]  # nothing is lost: the second editor's text comes back
    assert conflict["theirs"]["data"]["text"] == mine_a["text"]
    assert conflict["theirs"]["version"] == saved.json()["version"] and conflict["theirs"]["updated_by"] == "bootstrap"
    assert conflict["base"]["text"] == loaded_b["data"]["text"] and conflict["base_version"] == loaded_b["version"]
    fields = {f["field"]: f for f in conflict["fields"]}
    assert set(fields) == {"text", "tags"}
    assert fields["text"]["theirs_changed"] and fields["text"]["yours_changed"]
    assert fields["tags"]["yours_changed"] and not fields["tags"]["theirs_changed"]
    assert second.get(path).json()["data"]["text"] == mine_a["text"]  # the first save stands

    merged = dict(conflict["theirs"]["data"], tags=mine_b["tags"],
                  text="亲，您好，欢迎光临小店，很高兴为您服务～")
    done = second.put("/api/console/items/template", json={"data": merged, "version": conflict["theirs"]["version"]})
    assert done.status_code == 200, done.text
    history = first.get(f"{path}/history").json()
    assert [(h["version"], h["actor"]) for h in history[:2]] == [(3, "首个主管"), (2, "bootstrap")]
    text_change = next(c for c in history[0]["changes"] if c["field"] == "text")
    assert text_change == {"field": "text", "before": mine_a["text"], "after": merged["text"]}


# ---------------------------------------------------------------------------- validation
def test_bad_input_gets_422_saying_what_and_where_in_chinese_and_english(clients: dict[str, httpx.Client]) -> None:
    boss = clients["boss"]
    bad = dict(NEW_TEMPLATE, intents=["bargaining", "no_such_intent"], text="亲，{订单号} 和 {nope} 都到了")
    checked = boss.post("/api/console/check/template", json={"data": bad}).json()
    locs = {(e["loc"], e["message"].split(" / ")[0][:5]) for e in checked["errors"]}
    assert ("intents.1", "未知意图 ") in locs
    assert any(loc == "text" and "写法不对" in e["message"] for loc, e in
               ((e["loc"], e) for e in checked["errors"]))
    assert any("未知占位符 {nope}" in e["message"] for e in checked["errors"])
    refused = boss.put("/api/console/items/template", json={"data": bad})
    assert refused.status_code == 422
    assert "未保存" in detail(refused)["message"] and "not saved" in detail(refused)["message"]
    assert boss.get("/api/console/items/template/bargaining.console_test.1").status_code == 404  # nothing stored

    missing = boss.put("/api/console/items/template", json={"data": {"id": "Bad Id"}})
    assert missing.status_code == 422
    errors = {e["loc"]: e["message"] for e in detail(missing)["errors"]}
    assert errors["id"].startswith("格式不对") and "intents" in errors and errors["text"].startswith("必填 / ")

    shape = boss.put("/api/console/items/template", json={"data": "not an object"})
    assert shape.status_code == 422
    assert detail(shape)["errors"][0]["loc"] == "body.data" and "请求内容不合法 / invalid request" in detail(shape)["message"]

    unknown_kind = boss.get("/api/console/items/recipe")
    assert unknown_kind.status_code == 404 and "unknown kind" in detail(unknown_kind)["message"]

    settings = boss.get("/api/console/settings").json()
    shifts = [dict(settings["settings"]["response"]["shifts"][0], start="8点", answer_s=-5)]
    response = dict(settings["settings"]["response"], shifts=shifts)
    bad_settings = boss.put("/api/console/settings", json={"settings": {"response": response}, "version": settings["version"]})
    assert bad_settings.status_code == 422
    errors = {e["loc"]: e["message"] for e in detail(bad_settings)["errors"]}
    assert "08:00" in errors["settings.response.shifts.0.start"] and "settings.response.shifts.0.answer_s" in errors

    no_files = clients["qa"].post("/api/qa/replay", data={"name": "x"})
    assert no_files.status_code == 422 and detail(no_files)["errors"][0]["loc"] == "body.files"


# ---------------------------------------------------------------------------- rules
def test_rule_test_box_runs_the_edited_rule_and_a_failing_example_blocks_saving(
        clients: dict[str, httpx.Client]) -> None:
    boss, agent = clients["boss"], clients["agent"]
    loaded = boss.get("/api/console/items/rule/taboo.dont_know").json()
    edited = dict(loaded["data"], patterns=[*loaded["data"]["patterns"], "不晓得"])
    edited["examples"] = {"flag": [*edited["examples"]["flag"], "我也不晓得"],
                          "pass": [*edited["examples"]["pass"], "不晓得您喜欢哪个颜色呢"]}
    result = boss.post("/api/console/check/rule", json={"data": edited, "texts": ["这个我真不晓得", "亲，帮您查一下"]}).json()
    test = result["test"]
    assert test["failed"] == 1
    failing = [e for e in test["examples"] if not e["ok"]]
    assert [(e["text"], e["expect"]) for e in failing] == [("不晓得您喜欢哪个颜色呢", "pass")]
    assert next(e for e in test["examples"] if e["text"] == "我也不晓得")["ok"]
    assert [t["hit"] for t in test["texts"]] == [True, False]
    assert result["errors"][0]["loc"] == "examples"
    # the live checker still has the published rule: the edit is only tested, not saved
    assert agent.post("/api/check", json={"text": "我也不晓得"}).json()["ok"]

    refused = boss.put("/api/console/items/rule", json={"data": edited, "version": loaded["version"]})
    assert refused.status_code == 422 and "例子" in detail(refused)["message"]
    edited["allow"] = [*edited["allow"], "不晓得您"]
    saved = boss.put("/api/console/items/rule", json={"data": edited, "version": loaded["version"]})
    assert saved.status_code == 200, saved.text
    flagged = agent.post("/api/check", json={"text": "我也不晓得"}).json()
    assert not flagged["ok"] and flagged["flags"][0]["rule"] == "taboo.dont_know"
    history = boss.get("/api/console/items/rule/taboo.dont_know/history").json()
    assert {c["field"] for c in history[0]["changes"]} == {"patterns", "allow", "examples"}


# ---------------------------------------------------------------------------- settings and try
def test_settings_shifts_and_variants_publish_and_change_what_agents_get(
        server: Server, clients: dict[str, httpx.Client]) -> None:
    boss = clients["boss"]

    def suggested_variants() -> set[str]:
        found = boss.post("/api/console/try", json={"text": "能便宜点吗，便宜的话我就拍了"}).json()
        assert found["intents"][0]["intent"] == "bargaining"
        ids = [s["template_id"] for s in found["suggestions"]]
        book = boss.get("/api/console/items/template", params={"intent": "bargaining"}).json()["items"]
        variant = {row["data"]["id"]: row["data"]["variant"].get("bargaining", "any") for row in book}
        return {variant[i] for i in ids}

    assert "haggle" not in suggested_variants()
    entry = boss.get("/api/console/settings").json()
    settings = entry["settings"]
    assert settings["policy"]["variants"]["bargaining"] == "best_price"
    shifts = [dict(s, answer_s=15) if s["id"] == "day" else s for s in settings["response"]["shifts"]]

    async def main() -> int:
        ws = await _agent_socket(server)
        saved = boss.put("/api/console/settings", json={"version": entry["version"], "settings": {
            "policy": dict(settings["policy"], variants=dict(settings["policy"]["variants"], bargaining="haggle")),
            "response": dict(settings["response"], shifts=shifts)}})
        assert saved.status_code == 200, saved.text
        assert sorted(saved.json()["changed"]) == ["policy", "response"]
        pushed = await _next_push(ws, "phrasebook_updated")
        await ws.close()
        return int(pushed["revision"])

    revision = asyncio.run(main())
    assert "best_price" not in suggested_variants()
    again = boss.get("/api/console/settings").json()
    assert again["version"] == entry["version"] + 1 and again["updated_by"] == "bootstrap"
    assert next(s for s in again["settings"]["response"]["shifts"] if s["id"] == "day")["answer_s"] == 15
    assert boss.get("/api/console/meta").json()["revision"] == revision
    stale = clients["boss2"].put("/api/console/settings", json={"settings": {"allow": ["喂奶"]}, "version": entry["version"]})
    assert stale.status_code == 409 and detail(stale)["conflict"]["theirs"]["version"] == again["version"]
    bad_variant = boss.put("/api/console/settings", json={"version": again["version"], "settings": {
        "policy": dict(settings["policy"], variants={"bargaining": "free_gift"})}})
    assert bad_variant.status_code == 422 and "free_gift" in detail(bad_variant)["message"]
    history = boss.get("/api/console/items/settings/settings/history").json()
    assert {c["field"] for c in history[0]["changes"]} == {"policy", "response"}


def test_try_a_message_shows_intents_evidence_suggestions_and_reminders(clients: dict[str, httpx.Client]) -> None:
    found = clients["boss"].post("/api/console/try", json={"text": "怎么还没发货啊，都三天了",
                                                            "variables": {"order_no": "A20240501"}}).json()
    assert found["intent"] == "delivery_chase" and found["intents"][0]["name"]
    assert any(e["kind"] == "keyword" and e["intent"] == "delivery_chase" for e in found["evidence"])
    assert found["suggestions"] and all(s["intent"] == "delivery_chase" for s in found["suggestions"])
    assert any("A20240501" in s["text"] for s in found["suggestions"])
    assert found["reminders"] and found["classifier"] in ("model", "keywords")
    empty = clients["boss"].post("/api/console/try", json={"text": ""})
    assert empty.status_code == 422 and detail(empty)["errors"][0]["loc"] == "body.text"


# ---------------------------------------------------------------------------- import / export
def _without_revision(text: str) -> Any:
    document = yaml.safe_load(text)
    document.pop("revision", None)
    return document


def test_import_export_round_trips_without_loss_and_matches_the_cli(
        server: Server, clients: dict[str, httpx.Client], tmp_path: Path) -> None:
    boss = clients["boss"]
    exported = {fmt: boss.get("/api/console/export", params={"format": fmt}) for fmt in ("yaml", "json", "csv")}
    assert all(r.status_code == 200 for r in exported.values())
    assert 'filename="phrasebook-r' in exported["yaml"].headers["content-disposition"]
    for fmt, response in exported.items():
        preview = boss.post("/api/console/import", files={"file": (f"book.{fmt}", response.content)}).json()
        assert preview["changes"] == {"created": [], "deleted": [], "updated": []}, fmt
        assert not preview["applied"] and not preview["skipped"]

    # the CLI reads the same database and writes the same document
    cli = subprocess.run([sys.executable, "-m", "assistant", "phrasebook", "export", "--format", "yaml"],
                         env=dict(os.environ, COACH_DATA_DIR=str(server.data_dir)), cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0, cli.stderr
    assert _without_revision(cli.stdout) == _without_revision(exported["yaml"].text)

    document = yaml.safe_load(exported["yaml"].text)
    document["templates"][0]["text"] = "亲，这款已经是最优惠的价格了哦，喜欢的话可以放心拍下～"
    removed = document["templates"].pop()
    changed = yaml.safe_dump(document, allow_unicode=True, sort_keys=False).encode()
    preview = boss.post("/api/console/import", files={"file": ("changed.yml", changed)}).json()
    assert preview["changes"]["updated"] == [f"template:{document['templates'][0]['id']}"]
    assert preview["changes"]["deleted"] == [f"template:{removed['id']}"]
    stale = boss.post("/api/console/import", files={"file": ("changed.yml", changed)},
                      data={"apply": "true", "expected_revision": str(preview["revision"] - 1)})
    assert stale.status_code == 409
    applied = boss.post("/api/console/import", files={"file": ("changed.yml", changed)},
                        data={"apply": "true", "expected_revision": str(preview["revision"])}).json()
    assert applied["applied"] and applied["revision"] > preview["revision"]
    assert _without_revision(boss.get("/api/console/export").text) == _without_revision(changed.decode())
    assert boss.get("/api/console/audit", params={"action": "import"}).json()[0]["detail"]["deleted"] == 1

    rows = exported["csv"].text.splitlines()
    broken_csv = "\n".join([rows[0], rows[1].replace(rows[1].split(",")[0], "Bad Id", 1),
                            rows[2].replace("approved", "draft")]).encode()
    partial = boss.post("/api/console/import", files={"file": ("sheet.csv", broken_csv)}).json()
    assert len(partial["skipped"]) == 1 and partial["skipped"][0].startswith("sheet.csv:2:")
    assert partial["changes"]["updated"] == [f"template:{rows[2].split(',')[0]}"]
    bad = boss.post("/api/console/import", files={"file": ("broken.yaml", b"templates: [\n")})
    assert bad.status_code == 422 and detail(bad)["message"].startswith("无法导入，未做任何修改 / cannot import")
    assert "broken.yaml:2" in detail(bad)["errors"][0]["message"]


# ---------------------------------------------------------------------------- QA
def test_qa_replay_stores_reports_that_qa_and_supervisors_can_read_and_override(
        clients: dict[str, httpx.Client]) -> None:
    qa, boss = clients["qa"], clients["boss"]
    revision = boss.get("/api/console/meta").json()["revision"]
    made = upload(qa, "cases.jsonl", "chat_export.txt", name="五一抽检", agents="优品旗舰店*")
    assert made.status_code == 200, made.text
    body = made.json()
    assert body["name"] == "五一抽检" and body["rules_revision"] == revision
    assert body["summary"]["conversations_total"] == body["summary"]["conversations"] > 5
    assert [f["name"] for f in body["summary"]["files"]] == ["cases.jsonl", "chat_export.txt"]
    report_id = body["id"]

    listed = boss.get("/api/qa/reports").json()
    assert [(r["id"], r["name"], r["created_by"]) for r in listed] == [(report_id, "五一抽检", "首个质检")]
    assert "agent_days" not in listed[0]["summary"]
    full = qa.get(f"/api/qa/reports/{report_id}").json()
    assert full["format"] == "reply-coach/qa-report" and full["meta"]["rules_revision"] == revision
    assert full["charts"]["wait_histogram"] and full["conversations"][0]["messages"]
    index = qa.get(f"/api/qa/reports/{report_id}", params={"view": "index"}).json()
    scores = [c["score"] for c in index["conversations"]]
    assert scores == sorted(scores) and "messages" not in index["conversations"][0]
    worst = index["conversations"][0]
    conv = qa.get(f"/api/qa/reports/{report_id}/conversation", params={"key": worst["key"]}).json()
    assert conv["deductions"] and conv["messages"] and conv["intent_names"]
    assert qa.get(f"/api/qa/reports/{report_id}/conversation", params={"key": "nope"}).status_code == 404
    html = boss.get(f"/api/qa/reports/{report_id}/html")
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert "客服质检报告" in html.text and "<svg" in html.text
    assert qa.get("/api/qa/reports/999").status_code == 404

    finding = next(d for d in conv["deductions"] if d["points"] > 0)
    override = qa.post(f"/api/qa/reports/{report_id}/overrides",
                       json={"finding_id": finding["id"], "reason": "买家先发的联系方式，客服只是复述"})
    assert override.status_code == 200, override.text
    record = override.json()["override"]
    assert record["reviewer"] == "首个质检" and record["score_after"] >= record["score_before"]
    again = qa.get(f"/api/qa/reports/{report_id}/conversation", params={"key": worst["key"]}).json()
    assert next(d for d in again["deductions"] if d["id"] == finding["id"])["override"]["reason"].startswith("买家")
    assert qa.get(f"/api/qa/reports/{report_id}").json()["overrides"][0]["finding_id"] == finding["id"]
    twice = qa.post(f"/api/qa/reports/{report_id}/overrides", json={"finding_id": finding["id"], "reason": "再来"})
    assert twice.status_code == 409
    unknown = qa.post(f"/api/qa/reports/{report_id}/overrides", json={"finding_id": "nope", "reason": "x"})
    assert unknown.status_code == 422 and detail(unknown)["errors"][0]["loc"] == "finding_id"
    no_reason = qa.post(f"/api/qa/reports/{report_id}/overrides", json={"finding_id": finding["id"], "reason": ""})
    assert no_reason.status_code == 422
    audit = {row["action"]: row for row in boss.get("/api/console/audit").json()}
    assert audit["qa override"]["actor"] == "首个质检" and audit["qa override"]["detail"]["reason"].startswith("买家")
    assert audit["qa replay"]["detail"]["report_id"] == report_id

    # trends: a second upload of the same chats does not count twice
    assert upload(boss, "cases.jsonl").status_code == 200
    trends = qa.get("/api/qa/trends").json()
    assert trends["days"] == ["2024-05-01"] and "小美" in trends["agents"]
    cell = trends["series"]["小美"][0]
    assert cell["report_id"] == report_id + 1 and cell["conversations"] == 5
    only_first = qa.get("/api/qa/trends", params={"reports": str(report_id)}).json()
    assert only_first["reports"] == [report_id]
    assert qa.get("/api/qa/trends", params={"reports": "x"}).status_code == 422

    nothing = qa.post("/api/qa/replay", files=[("files", ("junk.jsonl", "不是 JSON\n{}\n".encode()))])
    assert nothing.status_code == 422 and "没有读到任何消息" in detail(nothing)["message"]
    assert [e["loc"] for e in detail(nothing)["errors"]] == ["junk.jsonl:1", "junk.jsonl:2"]
    assert len(qa.get("/api/qa/reports").json()) == 2  # nothing stored
    bad_tz = upload(qa, "cases.jsonl", tz="Mars/Base")
    assert bad_tz.status_code == 422 and detail(bad_tz)["errors"][0]["loc"] == "tz"
