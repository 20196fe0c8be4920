"""``render_html(report)``: one self-contained Chinese HTML page (inline CSS, JS and SVG, no CDN).

Sections: totals, response-time distribution, violations by type, per-agent and per-day
tables (click a header to sort), and a drill-down per conversation (lowest scores first) with
each deduction linked to its message and flagged words highlighted in the transcript.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from html import escape
from typing import Any

from .findings import KIND_LABELS, ConversationScore, MessageView
from .messages import DEFAULT_TZ, zone
from .report import Report

__all__ = ["render_html", "DRILLDOWN_LIMIT"]

DRILLDOWN_LIMIT = 300
_WHOLE_DRAFT = frozenset({"no_honorific", "too_long"})
_ROLE = {"buyer": "买家", "agent": "客服", "system": "系统"}

_CSS = """
body{font-family:-apple-system,"PingFang SC","Microsoft YaHei","Noto Sans CJK SC",sans-serif;margin:0;
background:#f5f6f8;color:#1f2329;font-size:14px;line-height:1.55}
main{max-width:1180px;margin:0 auto;padding:20px}
h1{font-size:24px;margin:8px 0}h2{font-size:18px;margin:28px 0 10px;border-left:4px solid #3370ff;padding-left:8px}
.meta{color:#646a73;font-size:13px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:10px}
.card{background:#fff;border-radius:8px;padding:12px 14px;box-shadow:0 1px 2px rgba(0,0,0,.06)}
.card b{display:block;font-size:22px}.card span{color:#646a73;font-size:12px}
.panel{background:#fff;border-radius:8px;padding:14px;box-shadow:0 1px 2px rgba(0,0,0,.06);overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{border-bottom:1px solid #e8e9eb;padding:6px 8px;text-align:right;white-space:nowrap}
th{background:#f2f3f5;cursor:pointer;position:sticky;top:0}th:first-child,td:first-child{text-align:left}
td.text{text-align:left;white-space:normal}
.score{display:inline-block;min-width:44px;text-align:center;border-radius:10px;padding:0 8px;color:#fff;font-weight:600}
.s-good{background:#2ea121}.s-mid{background:#de7802}.s-bad{background:#d83931}
details{background:#fff;border-radius:8px;margin:8px 0;box-shadow:0 1px 2px rgba(0,0,0,.06)}
summary{cursor:pointer;padding:10px 14px}details>div{padding:0 14px 14px}
.msg{display:grid;grid-template-columns:150px 1fr;gap:8px;padding:6px 8px;border-radius:6px;margin:2px 0}
.msg .who{color:#646a73;font-size:12px;word-break:break-all}.msg.buyer{background:#f7f8fa}.msg.agent{background:#eef4ff}
.msg.system{background:#fafafa;color:#8f959e}.msg.auto{background:#f4f4f4}
.msg.flagged{outline:2px solid #f54a45;background:#fff1f0}
.msg:target,.ded:target{box-shadow:0 0 0 3px #ffc60a}
mark.block{background:#f54a45;color:#fff;padding:0 2px;border-radius:3px}
mark.warn{background:#ffc60a;padding:0 2px;border-radius:3px}
.lat{font-size:12px;color:#646a73}.late{color:#d83931;font-weight:600}
.ded{padding:6px 8px;border-left:3px solid #f54a45;margin:6px 0;background:#fffafa}
.ded.overridden{border-left-color:#8f959e;background:#f7f7f7;text-decoration:line-through}
.ded small{color:#646a73}.tag{display:inline-block;background:#eff0f1;border-radius:4px;padding:0 6px;margin-right:4px;font-size:12px}
.problems li{font-family:ui-monospace,monospace;font-size:12px}
svg{max-width:860px;display:block}svg text{font-size:11px;fill:#373c43}
#filter{padding:6px 10px;width:320px;border:1px solid #d0d3d6;border-radius:6px}
"""

_JS = """
document.querySelectorAll('table.sortable th').forEach(function(th,i){th.addEventListener('click',function(){
 var tb=th.closest('table').tBodies[0],rows=Array.from(tb.rows),asc=th.dataset.asc!=='1';
 th.closest('tr').querySelectorAll('th').forEach(function(h){delete h.dataset.asc});th.dataset.asc=asc?'1':'0';
 rows.sort(function(a,b){var x=a.cells[i].dataset.v||a.cells[i].textContent,y=b.cells[i].dataset.v||b.cells[i].textContent;
  var nx=parseFloat(x),ny=parseFloat(y);var c=(!isNaN(nx)&&!isNaN(ny))?nx-ny:x.localeCompare(y,'zh');return asc?c:-c});
 rows.forEach(function(r){tb.appendChild(r)})})});
var f=document.getElementById('filter');if(f){f.addEventListener('input',function(){var q=f.value.trim().toLowerCase();
 document.querySelectorAll('details.conv').forEach(function(d){d.style.display=(!q||d.dataset.search.indexOf(q)>=0)?'':'none'})})}
document.querySelectorAll('a[href^="#m-"],a[href^="#d-"]').forEach(function(a){a.addEventListener('click',function(){
 var t=document.getElementById(a.getAttribute('href').slice(1));if(t){var d=t.closest('details');if(d)d.open=true}})});
"""


def _e(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def _num(value: Any, suffix: str = "") -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        text = f"{value:g}" if value == int(value) else f"{value:.1f}"
    else:
        text = str(value)
    return text + suffix


def _score_class(score: float | None) -> str:
    if score is None:
        return "s-mid"
    return "s-good" if score >= 90 else ("s-mid" if score >= 60 else "s-bad")


def _anchor(kind: str, key: str, ident: str) -> str:
    return f"{kind}-" + hashlib.blake2s(f"{key}\x00{ident}".encode(), digest_size=8).hexdigest()


def _clock(ts: float, tz: str) -> str:
    return datetime.fromtimestamp(ts, zone(tz)).strftime("%Y-%m-%d %H:%M:%S")


# --------------------------------------------------------------------------- charts
def _nice_top(value: int) -> int:
    """The smallest axis top ≥ value made of 4 ticks of 1, 2, 2.5 or 5 × 10ⁿ (whole numbers)."""
    scale = 1
    while True:
        for step in (1, 2, 5) if scale == 1 else (1, 2, 2.5, 5):
            tick = int(step * scale)
            if tick * 4 >= value:
                return tick * 4
        scale *= 10


def _wait_chart(charts: dict[str, Any]) -> str:
    labels: list[str] = charts["wait_buckets"]
    first: list[int] = charts["first_response_histogram"]
    waits: list[int] = charts["wait_histogram"]
    peak = _nice_top(max([1, *first, *waits]))
    width, height, left, bottom = 720, 240, 40, 40
    slot = (width - left - 10) / len(labels)
    bar = slot * 0.36
    parts = [f'<svg viewBox="0 0 {width} {height}" width="100%" role="img" aria-label="响应时间分布">']
    plot = height - bottom - 20
    for tick in range(5):
        y = 20 + plot * tick / 4
        value = peak * (4 - tick) / 4
        parts.append(f'<line x1="{left}" x2="{width - 10}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e8e9eb"/>'
                     f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{value:.0f}</text>')
    for i, label in enumerate(labels):
        x = left + i * slot + slot * 0.12
        for j, (series, colour) in enumerate(((waits, "#3370ff"), (first, "#ff8800"))):
            h = plot * series[i] / peak
            parts.append(f'<rect x="{x + j * bar:.1f}" y="{20 + plot - h:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                         f'fill="{colour}"><title>{_e(label)}：{series[i]}</title></rect>')
        parts.append(f'<text x="{left + i * slot + slot / 2:.1f}" y="{height - bottom + 16}" '
                     f'text-anchor="middle">{_e(label)}</text>')
    parts.append(f'<rect x="{width - 250}" y="4" width="10" height="10" fill="#3370ff"/>'
                 f'<text x="{width - 236}" y="13">每次等待（全部轮次）</text>'
                 f'<rect x="{width - 120}" y="4" width="10" height="10" fill="#ff8800"/>'
                 f'<text x="{width - 106}" y="13">首次响应</text></svg>')
    return "".join(parts)


def _violations_chart(violations: list[dict[str, Any]]) -> str:
    if not violations:
        return '<p class="meta">没有扣分项。</p>'
    rows = violations[:20]
    peak = max(v["count"] for v in rows) or 1
    row_h, left, width = 24, 190, 720
    height = row_h * len(rows) + 10
    parts = [f'<svg viewBox="0 0 {width} {height}" width="100%" role="img" aria-label="违规类型">']
    for i, item in enumerate(rows):
        y = 5 + i * row_h
        w = (width - left - 60) * item["count"] / peak
        colour = "#f54a45" if item["key"].startswith(("wording_block", "unanswered")) else "#ff8800"
        parts.append(f'<text x="{left - 6}" y="{y + 15}" text-anchor="end">{_e(item["label"])}</text>'
                     f'<rect x="{left}" y="{y + 3}" width="{w:.1f}" height="{row_h - 8}" fill="{colour}" rx="2"/>'
                     f'<text x="{left + w + 4:.1f}" y="{y + 15}">{item["count"]}</text>')
    parts.append("</svg>")
    return "".join(parts)


# --------------------------------------------------------------------------- tables
_AGENT_TABLE = (("agent_id", "客服"), ("conversations", "会话"), ("avg_score", "平均分"), ("auto_fails", "判零"),
                ("replies", "人工回复"), ("first_response_avg_s", "首响均值(秒)"), ("wait_avg_s", "等待均值(秒)"),
                ("wait_p90_s", "等待P90(秒)"), ("late_rounds", "超时"), ("fines_yuan", "罚款¥"),
                ("unanswered", "未回复"), ("block_flags", "禁用语"), ("warn_flags", "提醒用语"),
                ("no_thanks", "未致谢"), ("obligations_missed", "处理未做到"), ("chased_again", "二次催促"))
_DAY_TABLE = (("day", "日期"), *_AGENT_TABLE[1:])


def _table(rows: list[dict[str, Any]], columns: tuple[tuple[str, str], ...]) -> str:
    if not rows:
        return '<p class="meta">无数据。</p>'
    head = "".join(f"<th>{_e(label)}</th>" for _k, label in columns)
    body = []
    for row in rows:
        cells = []
        for key, _label in columns:
            value = row.get(key)
            if key == "avg_score" and value is not None:
                cells.append(f'<td data-v="{value}"><span class="score {_score_class(value)}">{_num(value)}</span></td>')
            else:
                cells.append(f'<td data-v="{_e(value if value is not None else "")}">{_e(_num(value))}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table class="sortable"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


# --------------------------------------------------------------------------- drill-down
def _highlight(view: MessageView) -> str:
    text = view.text
    spans = sorted((f.start, f.end, f.severity) for f in view.flags
                   if f.category not in _WHOLE_DRAFT and f.end > f.start)
    out, pos = [], 0
    for start, end, severity in spans:
        if start < pos:
            continue
        out.append(_e(text[pos:start]))
        out.append(f'<mark class="{"block" if severity == "block" else "warn"}">{_e(text[start:end])}</mark>')
        pos = end
    out.append(_e(text[pos:]))
    return "".join(out).replace("\n", "<br>")


def _message(conv: ConversationScore, view: MessageView, tz: str, intents: dict[str, str]) -> str:
    classes = ["msg", view.role]
    if view.auto:
        classes.append("auto")
    if view.flags or view.deductions:
        classes.append("flagged")
    who = _ROLE.get(view.role, view.role)
    if view.role == "agent":
        who = f"{'自动回复' if view.auto else '客服'} {view.agent_id}"
    timing = ""
    if view.latency_s is not None:
        late = "" if view.on_time else " late"
        what = "首次响应" if view.first_response else "等待"
        fine = f"，罚 ¥{view.fine_yuan:g}" if view.fine_yuan else ""
        timing = (f'<div class="lat{late}">{what} {view.latency_s:g} 秒 / 时限 {view.limit_s:g} 秒{fine}</div>')
    notes = "".join(f'<div class="lat">{_e(f.message)}（{_e(f.rule)}）</div>' for f in view.flags
                    if f.category in _WHOLE_DRAFT)
    tags = "".join(f'<span class="tag">{_e(intents.get(i, i))}</span>' for i in view.intents)
    links = "".join(f' <a href="#{_anchor("d", conv.key, d)}">扣分↗</a>' for d in view.deductions)
    return (f'<div class="{" ".join(classes)}" id="{_anchor("m", conv.key, view.message_id)}">'
            f'<div class="who">{_e(who)}<br>{_clock(view.ts, tz)}<br><small>{_e(view.where)}</small></div>'
            f'<div>{tags}{_highlight(view)}{timing}{notes}{links}</div></div>')


def _conversation(conv: ConversationScore, tz: str, intents: dict[str, str]) -> str:
    counted = [d for d in conv.deductions if d.stands]
    sections = " ".join(
        f'<span class="tag">{_e(s["name"])} {_num(s["score"])}/{_num(s["weight"])}</span>'
        for s in conv.sections.values())
    deductions = []
    for d in conv.deductions:
        override = ""
        if d.override is not None:
            override = (f'<div><small>已覆核：{_e(d.override.get("reviewer"))}'
                        f'（{_e(d.override.get("reason"))}）</small></div>')
        fine = f" · 罚 ¥{d.fine_yuan:g}" if d.fine_yuan else ""
        auto = " · <b>判零</b>" if d.auto_fail else ""
        deductions.append(
            f'<div class="ded{" overridden" if d.override is not None else ""}" id="{_anchor("d", conv.key, d.id)}">'
            f'<b>{_e(KIND_LABELS.get(d.kind, d.kind))}</b> −{d.points:g} 分{fine}{auto} · '
            f'<a href="#{_anchor("m", conv.key, d.message_id)}">{_e(d.where)}</a> · {_e(d.agent_id or "—")}'
            f'<div>{_e(d.explanation)}</div>'
            f'<div><small>规则 {_e(d.rule)}：{_e(d.rule_text)}{"（出处 " + _e(d.source) + "）" if d.source else ""}'
            f'</small></div><div><small>扣分编号 {_e(d.id)}</small></div>{override}</div>')
    messages = "".join(_message(conv, v, tz, intents) for v in conv.messages)
    warnings = "".join(f'<div class="lat">⚠ {_e(w["where"])}：{_e(w["message"])}</div>' for w in conv.warnings)
    search = " ".join([conv.key, conv.primary_agent, *conv.agents, conv.day]).lower()
    return (f'<details class="conv" data-search="{_e(search)}"><summary>'
            f'<span class="score {_score_class(conv.score)}">{_num(conv.score)}</span> '
            f'<b>{_e(conv.key)}</b> · {_e(conv.primary_agent or "未分配")} · {_e(conv.day)} · '
            f'{conv.n_messages} 条消息 · {len(counted)} 项扣分{" · <b>自动判零</b>" if conv.auto_fail else ""}'
            f'</summary><div><p>{sections}</p>{warnings}'
            f'<h3>扣分</h3>{"".join(deductions) or "<p class=meta>无扣分。</p>"}'
            f'<h3>聊天记录</h3>{messages}</div></details>')


# --------------------------------------------------------------------------- page
def render_html(report: Report, drilldown: int = DRILLDOWN_LIMIT) -> str:
    """The whole report as one HTML page in Chinese."""
    meta = report.meta
    tz = meta.get("timezone") or DEFAULT_TZ
    totals = report.totals()
    summary = totals["summary"]
    charts = totals["charts"]
    classifier = meta.get("classifier") or {}
    classifier_text = "意图模型" if classifier.get("kind") == "model" else "话术库关键词（未加载模型）"
    cards = [
        ("会话", _num(report.conversations_total)), ("消息", _num(summary["messages"])),
        ("平均分", _num(summary["avg_score"])), ("自动判零", _num(summary["auto_fails"])),
        ("罚款合计", "¥" + _num(summary["fines_yuan"])), ("超时次数", _num(summary["late_rounds"])),
        ("未回复", _num(summary["unanswered"])), ("首响均值", _num(summary["first_response_avg_s"], " 秒")),
        ("等待P90", _num(summary["wait_p90_s"], " 秒")),
        ("问题行", _num(sum(report.problem_counts.values()))),
    ]
    card_html = "".join(f'<div class="card"><b>{_e(v)}</b><span>{_e(k)}</span></div>' for k, v in cards)
    ranked = sorted(report.conversations, key=lambda c: (c.score, -len(c.deductions), c.start_ts, c.key))
    shown = ranked[:drilldown]
    note = (f"共 {report.conversations_total} 个会话，下面列出得分最低的 {len(shown)} 个"
            if len(shown) < report.conversations_total else f"共 {len(shown)} 个会话，按得分从低到高排列")
    problems = report.problems
    problem_html = "".join(
        f'<li>{"⚠ " if p.level == "warning" else ""}{_e(p.where)}：{_e(p.message)}</li>' for p in problems[:500])
    more = sum(report.problem_counts.values()) - min(len(problems), 500)
    if more > 0:
        problem_html += f"<li>……另有 {more} 条</li>"
    files = "、".join(f'{_e(f["name"])}（{f["messages"]} 条）' for f in meta.get("files") or ())
    generated = f" · 生成于 {_e(meta['generated_at'])}" if meta.get("generated_at") else ""
    overrides = ""
    if report.overrides:
        overrides = "<h2>覆核记录</h2><div class=panel><ul>" + "".join(
            f'<li>{_e(o["finding_id"])}：{_e(o["reviewer"])} — {_e(o["reason"])}'
            f'（{_num(o["score_before"])} → {_num(o["score_after"])}）</li>' for o in report.overrides) + "</ul></div>"
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>客服质检报告</title><style>{_CSS}</style></head><body><main>
<h1>客服质检报告</h1>
<p class="meta">规则版本 r{_e(meta.get("rules_revision"))}（{_e(meta.get("rules_hash"))}） · 意图识别：{classifier_text} ·
时区 {_e(tz)}{generated}<br>文件：{files or "—"}</p>
<div class="cards">{card_html}</div>
<h2>响应时间分布</h2><div class="panel">{_wait_chart(charts)}
<p class="meta">每个柱子是落在该区间的回复轮次数；时限按班次（{_e(_shift_text(meta))}）。</p></div>
<h2>违规类型</h2><div class="panel">{_violations_chart(charts["violations"])}</div>
<h2>客服</h2><div class="panel">{_table(totals["agents"], _AGENT_TABLE)}</div>
<h2>按日期</h2><div class="panel">{_table(totals["days"], _DAY_TABLE)}</div>
{overrides}
<h2>会话明细</h2><p class="meta">{_e(note)}。点开查看扣分和聊天记录，标红的是被扣分的消息。</p>
<p><input id="filter" placeholder="按会话、客服或日期筛选"></p>
{"".join(_conversation(c, tz, meta.get("intents") or {}) for c in shown)}
<h2>读取问题</h2><div class="panel"><ul class="problems">{problem_html or "<li>没有问题行。</li>"}</ul></div>
</main><script>{_JS}</script></body></html>
"""


def _shift_text(meta: dict[str, Any]) -> str:
    response = meta.get("response") or {}
    return "；".join(f'{s["name"]} {s["start"]}-{s["end"]} 首响 {s["first_response_s"]:g} 秒、每次 {s["answer_s"]:g} 秒'
                    for s in response.get("shifts") or ())
