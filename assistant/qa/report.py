"""The QA report: scored conversations added up per agent, per day and per agent-day.

Every figure is a sum or a count (percentiles come from per-second histograms), so a
conversation can be taken out and put back: that is how a reviewer's override updates the
totals without replaying anything.  ``Report.to_dict`` is the JSON form (the CLI's
``--json`` file and what the service stores); ``Report.from_dict`` reads it back.

Overrides (``apply_overrides``): a reviewer dismisses, or re-weighs, one deduction by its id
with a reason.  The deduction stays in the report marked with who, when and why, and stops
counting; whoever stores the report records the override in its audit log.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from phrasebook.schema import RULE_CATEGORIES

from .findings import KIND_LABELS, ConversationScore, Section, rescore
from .messages import Problem

__all__ = ["Stats", "Aggregator", "AggregateRecord", "aggregate_record", "Report", "Override", "OverrideError", "apply_overrides", "WAIT_BUCKETS",
           "UNASSIGNED", "REPORT_FORMAT", "violation_key"]

REPORT_FORMAT = "reply-coach/qa-report"
UNASSIGNED = "（未分配）"
#: Upper edges (seconds) of the response-time chart's bars; the last bar is "more than 600 s".
WAIT_BUCKETS: tuple[float, ...] = (10, 20, 30, 60, 120, 180, 300, 600)


def _bucket(seconds: float) -> int:
    for index, edge in enumerate(WAIT_BUCKETS):
        if seconds <= edge:
            return index
    return len(WAIT_BUCKETS)


def _percentile(hist: Mapping[int, int], fraction: float) -> int | None:
    total = sum(hist.values())
    if total <= 0:
        return None
    rank = fraction * total
    running = 0
    for second in sorted(hist):
        running += hist[second]
        if running >= rank and hist[second] > 0:
            return second
    return max(hist)


def violation_key(kind: str, category: str) -> tuple[str, str]:
    """(key, Chinese label) of a deduction for the 'violations by type' chart."""
    if kind in ("wording_block", "wording_warn") and category:
        level = "拦截" if kind == "wording_block" else "提醒"
        return f"{kind}:{category}", f"{RULE_CATEGORIES.get(category, category)}（{level}）"
    return kind, KIND_LABELS.get(kind, kind)


@dataclass(slots=True)
class Stats:
    """Additive figures for one slice (everything, an agent, a day, an agent on a day)."""

    conversations: int = 0
    score_sum: float = 0.0
    auto_fails: int = 0
    messages: int = 0
    buyer_messages: int = 0
    replies: int = 0
    auto_replies: int = 0
    rounds: int = 0
    wait_sum: float = 0.0
    first_responses: int = 0
    first_sum: float = 0.0
    late_rounds: int = 0
    late_first: int = 0
    fines_yuan: float = 0.0
    unanswered: int = 0
    over_platform: int = 0
    block_flags: int = 0
    warn_flags: int = 0
    no_thanks: int = 0
    obligations_met: int = 0
    obligations_missed: int = 0
    chased_again: int = 0
    points_lost: float = 0.0
    wait_hist: Counter[int] = field(default_factory=Counter)  # whole seconds → rounds
    first_hist: Counter[int] = field(default_factory=Counter)

    def used(self) -> bool:
        return bool(self.conversations or self.replies or self.auto_replies or self.rounds or self.points_lost
                    or self.obligations_met)

    def to_dict(self) -> dict[str, Any]:
        def avg(total: float, count: int) -> float | None:
            return round(total / count, 2) if count else None

        waits = +self.wait_hist
        firsts = +self.first_hist
        return {
            "conversations": self.conversations, "avg_score": avg(self.score_sum, self.conversations),
            "auto_fails": self.auto_fails, "messages": self.messages, "buyer_messages": self.buyer_messages,
            "replies": self.replies, "auto_replies": self.auto_replies, "rounds": self.rounds,
            "first_responses": self.first_responses,
            "first_response_avg_s": avg(self.first_sum, self.first_responses),
            "first_response_p90_s": _percentile(firsts, 0.9),
            "wait_avg_s": avg(self.wait_sum, self.rounds), "wait_p50_s": _percentile(waits, 0.5),
            "wait_p90_s": _percentile(waits, 0.9), "late_rounds": self.late_rounds, "late_first": self.late_first,
            "late_rate": avg(self.late_rounds, self.rounds), "fines_yuan": round(self.fines_yuan, 2),
            "unanswered": self.unanswered, "over_platform_limit": self.over_platform,
            "block_flags": self.block_flags, "warn_flags": self.warn_flags, "no_thanks": self.no_thanks,
            "obligations_met": self.obligations_met, "obligations_missed": self.obligations_missed,
            "chased_again": self.chased_again, "points_lost": round(self.points_lost, 2),
        }


_DEDUCTION_COUNTER = {"wording_block": "block_flags", "wording_warn": "warn_flags", "no_thanks": "no_thanks",
                      "obligation_missed": "obligations_missed", "chased_again": "chased_again",
                      "unanswered": "unanswered"}


AggregateRecord = tuple[Any, ...]


def aggregate_record(conv: ConversationScore) -> AggregateRecord:
    """What the totals need of a conversation, as plain tuples (cheap to send between processes)."""
    agent_of = {v.message_id: v.agent_id for v in conv.messages if v.role == "agent"}
    return (
        conv.day, conv.primary_agent, conv.score, conv.auto_fail, conv.n_messages, conv.n_buyer,
        tuple((v.agent_id, v.auto) for v in conv.messages if v.role == "agent"),
        tuple((r.agent_id, r.latency_s, r.first, r.on_time, r.fine_yuan, r.over_platform) for r in conv.rounds),
        tuple((d.agent_id, d.kind, d.category, d.effective_points) for d in conv.deductions if d.stands),
        tuple(agent_of.get(o.get("met_by") or "", "") for o in conv.obligations if o.get("met")),
    )


class Aggregator:
    """Adds conversations (sign +1) or takes them out again (sign −1)."""

    def __init__(self) -> None:
        self.summary = Stats()
        self.agents: dict[str, Stats] = {}
        self.days: dict[str, Stats] = {}
        self.agent_days: dict[tuple[str, str], Stats] = {}
        self.first_buckets = [0] * (len(WAIT_BUCKETS) + 1)
        self.wait_buckets = [0] * (len(WAIT_BUCKETS) + 1)
        self.violations: Counter[str] = Counter()
        self.violation_labels: dict[str, str] = {}

    def _agent(self, agent: str, day: str) -> tuple[Stats, Stats]:
        agent = agent or UNASSIGNED
        a = self.agents.get(agent)
        if a is None:
            a = self.agents[agent] = Stats()
        ad = self.agent_days.get((agent, day))
        if ad is None:
            ad = self.agent_days[(agent, day)] = Stats()
        return a, ad

    def add(self, conv: ConversationScore, sign: int = 1) -> None:
        self.add_record(aggregate_record(conv), sign)

    def add_record(self, record: AggregateRecord, sign: int = 1) -> None:
        """Add (or with ``sign=-1`` take out) one conversation given by ``aggregate_record``."""
        day, primary, score, auto_fail, n_messages, n_buyer, replies, rounds, deductions, met_by = record
        d = self.days.get(day)
        if d is None:
            d = self.days[day] = Stats()
        slices: dict[str, tuple[Stats, ...]] = {}

        def targets(agent: str) -> tuple[Stats, ...]:  # everything, the day, the agent, the agent-day
            found = slices.get(agent)
            if found is None:
                found = slices[agent] = (self.summary, d, *self._agent(agent, day))
            return found

        for st in targets(primary):
            st.conversations += sign
            st.score_sum += sign * score
            st.auto_fails += sign * int(auto_fail)
            st.messages += sign * n_messages
            st.buyer_messages += sign * n_buyer
        for agent, auto in replies:
            for st in targets(agent):
                if auto:
                    st.auto_replies += sign
                else:
                    st.replies += sign
        for agent, latency, first, on_time, fine, over_platform in rounds:
            second = int(latency) if latency < 600 else int(latency) // 60 * 60  # minutes past 10 min
            bucket = _bucket(latency)
            self.wait_buckets[bucket] += sign
            if first:
                self.first_buckets[bucket] += sign
            for st in targets(agent):
                st.rounds += sign
                st.wait_sum += sign * latency
                st.wait_hist[second] += sign
                st.fines_yuan += sign * fine
                st.over_platform += sign * int(over_platform)
                if not on_time:
                    st.late_rounds += sign
                if first:
                    st.first_responses += sign
                    st.first_sum += sign * latency
                    st.first_hist[second] += sign
                    if not on_time:
                        st.late_first += sign
        for agent, kind, category, points in deductions:
            key, label = violation_key(kind, category)
            self.violations[key] += sign
            self.violation_labels[key] = label
            counter = _DEDUCTION_COUNTER.get(kind)
            for st in targets(agent):
                st.points_lost += sign * points
                if counter:
                    setattr(st, counter, getattr(st, counter) + sign)
        for agent in met_by:
            for st in targets(agent):
                st.obligations_met += sign

    # ------------------------------------------------------------------ output
    def charts(self) -> dict[str, Any]:
        labels = [f"≤{edge:g}秒" for edge in WAIT_BUCKETS] + [f">{WAIT_BUCKETS[-1]:g}秒"]
        return {
            "wait_buckets": labels,
            "first_response_histogram": list(self.first_buckets),
            "wait_histogram": list(self.wait_buckets),
            "violations": [{"key": k, "label": self.violation_labels.get(k, k), "count": n}
                           for k, n in sorted(self.violations.items(), key=lambda kv: (-kv[1], kv[0])) if n > 0],
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "summary": self.summary.to_dict(),
            "agents": [{"agent_id": a, **s.to_dict()} for a, s in sorted(self.agents.items()) if s.used()],
            "days": [{"day": d, **s.to_dict()} for d, s in sorted(self.days.items()) if s.used()],
            "agent_days": [{"agent_id": a, "day": d, **s.to_dict()}
                           for (a, d), s in sorted(self.agent_days.items()) if s.used()],
            "charts": self.charts(),
        }


@dataclass
class Report:
    """A replay's result.  ``conversations`` may hold only the drill-down selection of a huge
    run (``conversations_total`` says how many were scored); the totals always cover all."""

    meta: dict[str, Any]
    aggregator: Aggregator = field(default_factory=Aggregator)
    conversations: list[ConversationScore] = field(default_factory=list)
    conversations_total: int = 0
    problems: list[Problem] = field(default_factory=list)
    problem_counts: Counter[str] = field(default_factory=Counter)
    overrides: list[dict[str, Any]] = field(default_factory=list)
    frozen_totals: dict[str, Any] | None = None  # totals read from a report whose conversations were cut

    @property
    def conversations_complete(self) -> bool:
        return len(self.conversations) == self.conversations_total

    @property
    def rules_revision(self) -> int | None:
        return self.meta.get("rules_revision")

    @property
    def summary(self) -> dict[str, Any]:
        summary: dict[str, Any] = self.totals()["summary"]
        return summary

    def totals(self) -> dict[str, Any]:
        return self.frozen_totals if self.frozen_totals is not None else self.aggregator.to_dict()

    def sections(self) -> tuple[Section, ...]:
        config = self.meta.get("scorecard") or {}
        return tuple(Section(s["id"], s["name"], float(s["weight"])) for s in config.get("sections", ()))

    def to_dict(self) -> dict[str, Any]:
        head = self.head_dict()
        head["conversations"] = [c.to_dict() for c in self.conversations]
        return head

    def head_dict(self) -> dict[str, Any]:
        """Everything but the conversations (the CLI streams those into the JSON file)."""
        return {
            "format": REPORT_FORMAT, "version": 1, "meta": self.meta, **self.totals(),
            "conversations_total": self.conversations_total,
            "conversations_complete": self.conversations_complete,
            "problems": [p.to_dict() for p in self.problems],
            "problems_total": sum(self.problem_counts.values()),
            "problem_counts": dict(self.problem_counts),
            "overrides": list(self.overrides),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Report:
        if data.get("format") != REPORT_FORMAT:
            raise ValueError(f"不是质检报告 / not a QA report (format {data.get('format')!r})")
        report = cls(meta=dict(data["meta"]))
        report.conversations = [ConversationScore.from_dict(c) for c in data.get("conversations") or ()]
        report.conversations_total = int(data.get("conversations_total", len(report.conversations)))
        report.problems = [Problem(p["where"], p["message"], p.get("level", "error")) for p in data.get("problems") or ()]
        report.problem_counts = Counter(data.get("problem_counts") or {})
        report.overrides = list(data.get("overrides") or ())
        if report.conversations_complete:
            for conv in report.conversations:
                report.aggregator.add(conv)
        else:
            report.frozen_totals = {k: data[k] for k in ("summary", "agents", "days", "agent_days", "charts")}
        return report


class OverrideError(ValueError):
    """An override that cannot be applied; the message names the finding id."""


@dataclass(frozen=True)
class Override:
    """A reviewer's decision on one deduction: dismissed (``points`` None) or re-weighed."""

    finding_id: str
    reason: str
    reviewer: str
    at: str = ""
    points: float | None = None

    @classmethod
    def coerce(cls, value: Override | Mapping[str, Any]) -> Override:
        if isinstance(value, Override):
            return value
        try:
            return cls(str(value["finding_id"]), str(value.get("reason") or ""), str(value.get("reviewer") or ""),
                       str(value.get("at") or ""), None if value.get("points") is None else float(value["points"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise OverrideError(f"覆核记录无效 / bad override {value!r}: {exc}") from exc


def apply_overrides(report: Report, overrides: Iterable[Override | Mapping[str, Any]]) -> Report:
    """A copy of ``report`` with each override applied, scores and totals updated."""
    items = [Override.coerce(o) for o in overrides]
    for item in items:
        if not item.reason.strip():
            raise OverrideError(f"覆核 {item.finding_id} 必须写明理由 / an override needs a reason")
        if not item.reviewer.strip():
            raise OverrideError(f"覆核 {item.finding_id} 必须写明覆核人 / an override needs a reviewer")
        if item.points is not None and item.points < 0:
            raise OverrideError(f"覆核 {item.finding_id} 的分数不能为负 / points must not be negative")
    result = copy.deepcopy(report)
    if result.frozen_totals is not None:
        raise OverrideError("这份报告只保存了部分会话，不能覆核；请用完整的 JSON 报告 / report holds only part of its conversations")
    index = {d.id: (conv, d) for conv in result.conversations for d in conv.deductions}
    sections = result.sections()
    for item in items:
        found = index.get(item.finding_id)
        if found is None:
            raise OverrideError(f"报告里没有这条扣分 / no finding {item.finding_id!r} in this report")
        conv, deduction = found
        result.aggregator.add(conv, -1)
        record = {"finding_id": item.finding_id, "reason": item.reason, "reviewer": item.reviewer, "at": item.at,
                  "points": item.points, "original_points": deduction.points, "kind": deduction.kind,
                  "conversation": conv.key, "score_before": conv.score}
        deduction.override = {"reason": item.reason, "reviewer": item.reviewer, "at": item.at,
                              "points": item.points}
        rescore(conv, sections)
        record["score_after"] = conv.score
        result.aggregator.add(conv, +1)
        result.overrides.append(record)
    return result
