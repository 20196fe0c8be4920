"""REST routes of the QA dashboard (roles ``qa`` and ``supervisor``); the page is ``/console``.

    POST /api/qa/replay                           upload transcripts → stored report id and summary
    GET  /api/qa/reports, /api/qa/reports/{id}[?view=index], /api/qa/reports/{id}/html
    GET  /api/qa/reports/{id}/conversation?key=   drill-down
    POST /api/qa/reports/{id}/overrides           a reviewer dismisses or re-weighs a finding
    GET  /api/qa/trends                           per-agent figures by day over stored reports

Transcripts are confidential: only QA staff and supervisors reach these routes, and every upload
and override is audited.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from .api_errors import ClearErrors, problem
from .hub import Hub
from .store import TokenInfo

__all__ = ["qa_router", "MAX_UPLOAD_BYTES", "MAX_UPLOAD_FILES"]

MAX_UPLOAD_BYTES = 50 * 1024 * 1024
MAX_UPLOAD_FILES = 50


class OverrideBody(BaseModel):
    finding_id: str = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=1, max_length=1000)
    points: float | None = Field(default=None, ge=0)


def _report_summary(report: Any) -> dict[str, Any]:
    totals = report.totals()
    days = [d["day"] for d in totals["days"]]
    return {**totals["summary"], "conversations_total": report.conversations_total,
            "problems_total": sum(report.problem_counts.values()), "files": report.meta.get("files", []),
            "rules_hash": report.meta.get("rules_hash"), "days": [min(days), max(days)] if days else [],
            "agents": len(totals["agents"]), "agent_days": totals["agent_days"]}


def _conversation_index(conv: dict[str, Any]) -> dict[str, Any]:
    return {k: conv.get(k) for k in ("key", "conversation_id", "day", "primary_agent", "agents", "n_messages",
                                     "score", "auto_fail", "fines_yuan", "first_response_s", "unanswered")} | {
        "deductions": sum(1 for d in conv.get("deductions", ()) if d.get("override") is None),
        "overridden": sum(1 for d in conv.get("deductions", ()) if d.get("override") is not None)}


def _trends(store: Any, report_ids: set[int], agent: str) -> dict[str, Any]:
    """Agent-day figures over stored reports; where two reports cover the same agent and day
    (the same chats uploaded twice) the newer report counts, so nothing is counted twice."""
    cells: dict[tuple[str, str], dict[str, Any]] = {}
    used: list[int] = []
    for row in store.list_reports():  # newest first
        if report_ids and row["id"] not in report_ids:
            continue
        agent_days = row["summary"].get("agent_days")
        if agent_days is None:
            agent_days = (store.get_report(row["id"]) or {}).get("agent_days", [])
        took = False
        for cell in agent_days:
            key = (cell["agent_id"], cell["day"])
            if key not in cells and (not agent or cell["agent_id"] == agent):
                cells[key] = dict(cell, report_id=row["id"])
                took = True
        if took:
            used.append(row["id"])
    agents = sorted({a for a, _ in cells})
    days = sorted({d for _, d in cells})
    series = {a: [cells[(a, d)] for d in days if (a, d) in cells] for a in agents}
    return {"agents": agents, "days": days, "series": series, "reports": used}



def qa_router(hub_of: Callable[[Request], Hub], require: Callable[..., Callable[..., TokenInfo]]) -> APIRouter:
    """The QA API; ``require(*roles)`` is the app's role dependency."""
    router = APIRouter(route_class=ClearErrors)
    reviewer = require("qa", "supervisor")

    @router.post("/api/qa/replay")
    async def qa_replay(request: Request, files: Annotated[list[UploadFile], File()],
                        name: Annotated[str, Form(max_length=200)] = "",
                        format: Annotated[Literal["auto", "jsonl", "csv", "text"], Form()] = "auto",
                        tz: Annotated[str, Form()] = "Asia/Shanghai", agents: Annotated[str, Form()] = "",
                        column_map: Annotated[str, Form()] = "",
                        who: TokenInfo = Depends(reviewer)) -> dict[str, Any]:
        from ..qa.messages import zone
        from ..qa.readers import ReadOptions, parse_column_map
        from ..qa.replay import ReplayOptions, replay_bytes

        hub = hub_of(request)
        if len(files) > MAX_UPLOAD_FILES:
            raise problem(422, f"一次最多上传 {MAX_UPLOAD_FILES} 个文件", "too many files",
                           [{"loc": "files", "message": f"{len(files)} > {MAX_UPLOAD_FILES}"}])
        try:
            zone(tz)
            mapping = parse_column_map(column_map or None)
        except ValueError as exc:
            raise problem(422, "参数不合法", str(exc), [{"loc": "column_map", "message": str(exc)}]) from exc
        except Exception as exc:  # noqa: BLE001 - any bad zone name is a user mistake
            raise problem(422, f"未知时区 {tz}", f"unknown time zone {tz!r}", [{"loc": "tz", "message": tz}]) from exc
        uploads: list[tuple[str, bytes]] = []
        total = 0
        for upload in files:
            data = await upload.read(MAX_UPLOAD_BYTES + 1 - total)
            total += len(data)
            if total > MAX_UPLOAD_BYTES:
                raise problem(413, f"上传内容超过 {MAX_UPLOAD_BYTES // 1024 // 1024} MB，请用 coach replay 命令",
                               "upload too large: use the coach replay command")
            uploads.append((upload.filename or f"file{len(uploads) + 1}", data))
        policy = hub.policy  # the policy in force now; its revision is stored with the report
        options = ReplayOptions(read=ReadOptions(fmt=format, column_map=mapping, tz=tz,
                                                 agents=tuple(a.strip() for a in agents.split(",") if a.strip())),
                                streaming=False)
        started = datetime.now(UTC).isoformat(timespec="seconds")
        report = await asyncio.to_thread(replay_bytes, uploads, policy, None, options,
                                         {"generated_at": started, "uploaded_by": who.name})
        if report.summary["messages"] == 0:
            problems = [p.to_dict() for p in report.problems[:20]]
            raise problem(422, "没有读到任何消息，未生成报告", "no messages read, no report stored",
                           [{"loc": p["where"], "message": p["message"]} for p in problems])
        title = name.strip() or "、".join(n for n, _ in uploads)[:200]
        summary = _report_summary(report)
        report_id = await asyncio.to_thread(hub.store.save_report, title, who.name, policy.revision, summary,
                                            report.to_dict())
        await asyncio.to_thread(hub.store.audit, who.name, who.role, "qa replay", {
            "report_id": report_id, "files": [n for n, _ in uploads], "conversations": report.conversations_total,
            "rules_revision": policy.revision})
        return {"id": report_id, "name": title, "rules_revision": policy.revision,
                "summary": {k: v for k, v in summary.items() if k != "agent_days"},
                "problems": [p.to_dict() for p in report.problems[:50]]}

    @router.get("/api/qa/reports")
    def qa_reports(request: Request, _: TokenInfo = Depends(reviewer)) -> list[dict[str, Any]]:
        rows = hub_of(request).store.list_reports()
        for row in rows:
            row["summary"] = {k: v for k, v in row["summary"].items() if k != "agent_days"}
            row["created_at"] = str(row["created_at"])
        return rows

    def stored_report(request: Request, report_id: int) -> dict[str, Any]:
        data = hub_of(request).store.get_report(report_id)
        if data is None:
            raise problem(404, f"没有编号 {report_id} 的报告", f"no report {report_id}")
        return data

    @router.get("/api/qa/reports/{report_id}")
    def qa_report(report_id: int, request: Request, view: Literal["full", "index"] = "full",
                  _: TokenInfo = Depends(reviewer)) -> dict[str, Any]:
        data = stored_report(request, report_id)
        data["id"] = report_id
        if view == "index":
            data["conversations"] = sorted((_conversation_index(c) for c in data.get("conversations", ())),
                                           key=lambda c: (c["score"], c["key"]))
        return data

    @router.get("/api/qa/reports/{report_id}/conversation")
    def qa_conversation(report_id: int, key: str, request: Request,
                        _: TokenInfo = Depends(reviewer)) -> dict[str, Any]:
        data = stored_report(request, report_id)
        for conv in data.get("conversations", ()):
            if conv["key"] == key:
                return dict(conv, intent_names=data["meta"].get("intents", {}))
        raise problem(404, f"报告 {report_id} 里没有会话 {key}", "no such conversation")

    @router.get("/api/qa/reports/{report_id}/html", response_class=HTMLResponse)
    def qa_report_html(report_id: int, request: Request, _: TokenInfo = Depends(reviewer)) -> HTMLResponse:
        from ..qa.render import render_html
        from ..qa.report import Report

        html = render_html(Report.from_dict(stored_report(request, report_id)))
        return HTMLResponse(html, headers={"X-Content-Type-Options": "nosniff",
                                           "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline';"
                                                                      " script-src 'unsafe-inline'; img-src data:"})

    @router.post("/api/qa/reports/{report_id}/overrides")
    async def qa_override(report_id: int, body: OverrideBody, request: Request,
                          who: TokenInfo = Depends(reviewer)) -> dict[str, Any]:
        from ..qa.report import Override, OverrideError, Report, apply_overrides

        hub = hub_of(request)
        for _attempt in range(5):
            text = await asyncio.to_thread(hub.store.report_text, report_id)
            if text is None:
                raise problem(404, f"没有编号 {report_id} 的报告", f"no report {report_id}")
            at = datetime.now(UTC).isoformat(timespec="seconds")
            stored = json.loads(text)
            done = next((o for o in stored.get("overrides", ()) if o.get("finding_id") == body.finding_id), None)
            if done is not None:
                raise problem(409, f"这条扣分已由 {done.get('reviewer')} 覆核（{done.get('reason')}）",
                               "this finding was already overridden", override=done)
            try:
                report = apply_overrides(Report.from_dict(stored), [
                    Override(body.finding_id, body.reason.strip(), who.name, at, body.points)])
            except OverrideError as exc:
                raise problem(422, str(exc).split(" / ")[0], "cannot override",
                               [{"loc": "finding_id", "message": str(exc)}]) from exc
            record = report.overrides[-1]
            if await asyncio.to_thread(hub.store.replace_report, report_id, text, _report_summary(report),
                                       report.to_dict()):
                await asyncio.to_thread(hub.store.audit, who.name, who.role, "qa override",
                                        {"report_id": report_id, **record})
                return {"override": record, "summary": report.summary}
        raise problem(409, "报告正被他人同时修改，请重试", "report changed concurrently, try again")

    @router.get("/api/qa/trends")
    def qa_trends(request: Request, agent: str = "", reports: str = "",
                  _: TokenInfo = Depends(reviewer)) -> dict[str, Any]:
        try:
            ids = {int(x) for x in reports.split(",") if x.strip()}
        except ValueError as exc:
            raise problem(422, "reports 应为逗号分隔的报告编号", "reports: comma-separated ids",
                           [{"loc": "reports", "message": reports}]) from exc
        return _trends(hub_of(request).store, ids, agent)

    return router
