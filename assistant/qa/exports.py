"""Report files: streaming JSON (same shape as ``Report.to_dict``) and CSV for audits.

CSV files are UTF-8 with a BOM so Excel opens the Chinese headers correctly; times are local
times in the report's time zone.  ``conversations.csv`` has one row per conversation (agent,
first response, waits, violations, section scores, total, every deduction); ``agents.csv`` one
row per agent.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from .findings import ConversationScore
from .messages import DEFAULT_TZ, zone
from .report import Report

__all__ = ["JsonReportWriter", "ConversationCsvWriter", "write_agents_csv", "conversation_row", "agent_rows",
           "CONVERSATION_COLUMNS", "AGENT_COLUMNS", "local_time"]


def local_time(ts: float, tz: str = DEFAULT_TZ) -> str:
    return datetime.fromtimestamp(ts, zone(tz)).strftime("%Y-%m-%d %H:%M:%S")


class JsonReportWriter:
    """Writes conversations as they are scored, then the totals: flat memory for any size."""

    renders_json = True  # its rendered text is the conversation's JSON (reused by the replay)

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.handle: IO[str] = self.path.open("w", encoding="utf-8")
        self.handle.write('{"conversations": [')
        self.count = 0

    def render(self, conversation: ConversationScore) -> str:
        return json.dumps(conversation.to_dict(), ensure_ascii=False)

    def write(self, text: str) -> None:
        self.handle.write(",\n" if self.count else "\n")
        self.handle.write(text)
        self.count += 1

    def finish(self, report: Report) -> None:
        head = report.head_dict()
        head["conversations_complete"] = self.count == report.conversations_total
        rest = json.dumps(head, ensure_ascii=False, indent=1)
        self.handle.write("\n],\n" + rest[1:].lstrip("\n") + "\n")
        self.handle.close()

    def abort(self) -> None:
        if not self.handle.closed:
            self.handle.close()


CONVERSATION_COLUMNS: tuple[tuple[str, str], ...] = (
    ("key", "会话"), ("conversation_id", "会话ID"), ("day", "日期"), ("primary_agent", "主要客服"),
    ("agents", "参与客服"), ("start", "开始时间"), ("end", "结束时间"), ("messages", "消息数"),
    ("buyer_messages", "买家消息"), ("replies", "人工回复"), ("first_response_s", "首次响应(秒)"),
    ("wait_avg_s", "平均等待(秒)"), ("wait_max_s", "最长等待(秒)"), ("late_rounds", "超时次数"),
    ("fines_yuan", "罚款(元)"), ("unanswered", "未回复"), ("block_flags", "禁用语"), ("warn_flags", "提醒用语"),
    ("no_thanks", "未致谢"), ("obligations_missed", "处理要求未做到"), ("chased_again", "二次催促"),
    ("timing", "响应时效得分"), ("wording", "服务用语得分"), ("handling", "问题处理得分"), ("score", "总分"),
    ("auto_fail", "自动判零"), ("deductions", "扣分明细"),
)

AGENT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("agent_id", "客服"), ("conversations", "会话数"), ("avg_score", "平均分"), ("auto_fails", "自动判零"),
    ("replies", "人工回复"), ("auto_replies", "自动回复"), ("rounds", "回复轮次"),
    ("first_responses", "首次响应次数"), ("first_response_avg_s", "首次响应平均(秒)"),
    ("first_response_p90_s", "首次响应P90(秒)"), ("wait_avg_s", "平均等待(秒)"), ("wait_p50_s", "等待P50(秒)"),
    ("wait_p90_s", "等待P90(秒)"), ("late_rounds", "超时次数"), ("late_rate", "超时率"),
    ("fines_yuan", "罚款(元)"), ("unanswered", "未回复"), ("over_platform_limit", "超过平台时限"),
    ("block_flags", "禁用语"), ("warn_flags", "提醒用语"), ("no_thanks", "未致谢"),
    ("obligations_met", "处理要求做到"), ("obligations_missed", "处理要求未做到"), ("chased_again", "二次催促"),
    ("points_lost", "扣分合计"),
)


def _fmt(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float):
        return f"{value:g}" if value == int(value) else f"{round(value, 2)}"
    return value


def conversation_row(conv: ConversationScore, tz: str = DEFAULT_TZ) -> dict[str, Any]:
    waits = [r.latency_s for r in conv.rounds]
    counted = [d for d in conv.deductions if d.stands]
    kinds = [d.kind for d in counted]
    row = {
        "key": conv.key, "conversation_id": conv.conversation_id, "day": conv.day,
        "primary_agent": conv.primary_agent, "agents": "、".join(conv.agents),
        "start": local_time(conv.start_ts, tz), "end": local_time(conv.end_ts, tz),
        "messages": conv.n_messages, "buyer_messages": conv.n_buyer, "replies": conv.n_agent,
        "first_response_s": conv.first_response_s,
        "wait_avg_s": round(sum(waits) / len(waits), 2) if waits else None,
        "wait_max_s": max(waits) if waits else None,
        "late_rounds": sum(1 for r in conv.rounds if not r.on_time), "fines_yuan": conv.fines_yuan,
        "unanswered": kinds.count("unanswered"), "block_flags": kinds.count("wording_block"),
        "warn_flags": kinds.count("wording_warn"), "no_thanks": kinds.count("no_thanks"),
        "obligations_missed": kinds.count("obligation_missed"), "chased_again": kinds.count("chased_again"),
        "score": conv.score, "auto_fail": conv.auto_fail,
        "deductions": "；".join(f"{d.where} {d.rule} -{d.effective_points:g}" for d in counted),
    }
    for section_id, section in conv.sections.items():
        row[section_id] = section["score"]
    return row


class ConversationCsvWriter:
    def __init__(self, path: str | Path, tz: str = DEFAULT_TZ) -> None:
        self.handle = Path(path).open("w", encoding="utf-8-sig", newline="")
        self.writer = csv.writer(self.handle)
        self.writer.writerow([label for _key, label in CONVERSATION_COLUMNS])
        self.tz = tz

    def render(self, conversation: ConversationScore) -> str:
        row = conversation_row(conversation, self.tz)
        buffer = io.StringIO()
        csv.writer(buffer).writerow([_fmt(row.get(key)) for key, _label in CONVERSATION_COLUMNS])
        return buffer.getvalue()

    def write(self, line: str) -> None:
        self.handle.write(line)

    def finish(self) -> None:
        self.handle.close()


def agent_rows(report: Report) -> list[dict[str, Any]]:
    return list(report.totals()["agents"])


def write_agents_csv(report: Report, path: str | Path) -> None:
    _write_rows(path, agent_rows(report), AGENT_COLUMNS)


def _write_rows(path: str | Path, rows: Iterable[dict[str, Any]], columns: tuple[tuple[str, str], ...]) -> None:
    with Path(path).open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([label for _key, label in columns])
        for row in rows:
            writer.writerow([_fmt(row.get(key)) for key, _label in columns])
