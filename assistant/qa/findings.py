"""What a scored conversation is made of: deductions, message views, rounds and section scores.

Plain data with ``to_dict``/``from_dict`` so a report survives JSON and storage unchanged.
``rescore`` is the only arithmetic: section score = weight − points of its deductions (not
below 0), total = sum of sections, 0 if any standing deduction is an auto-fail.  Overridden
deductions stay in the report (with who and why) but no longer count.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from classifiers.wording import Flag

__all__ = [
    "Section", "Deduction", "MessageView", "RoundStat", "ConversationScore", "rescore", "KIND_LABELS",
    "KIND_SECTION", "KINDS",
]


@dataclass(frozen=True, slots=True)
class Section:
    id: str
    name: str
    weight: float


#: Every kind of deduction, its scorecard section and its Chinese name.
KIND_SECTION: dict[str, str] = {
    "late_first_response": "timing",
    "late_reply": "timing",
    "unanswered": "timing",
    "wording_block": "wording",
    "wording_warn": "wording",
    "no_thanks": "wording",
    "obligation_missed": "handling",
    "chased_again": "handling",
}
KINDS = tuple(KIND_SECTION)
KIND_LABELS: dict[str, str] = {
    "late_first_response": "首次响应超时",
    "late_reply": "回复超时",
    "unanswered": "买家消息未回复",
    "wording_block": "禁用语（拦截级）",
    "wording_warn": "不当用语（提醒级）",
    "no_thanks": "结束时未致谢",
    "obligation_missed": "处理要求未做到",
    "chased_again": "买家二次催促",
}


@dataclass(slots=True)
class Deduction:
    """One finding that costs points; it names its message and quotes the rule it applies."""

    id: str
    kind: str
    section: str
    points: float
    message_id: str
    where: str
    ts: float
    agent_id: str
    rule: str
    rule_text: str
    source: str
    explanation: str
    quote: str = ""
    match: str = ""
    start: int | None = None
    end: int | None = None
    category: str = ""
    severity: str = ""
    fine_yuan: float = 0.0
    auto_fail: bool = False
    related: tuple[str, ...] = ()
    override: dict[str, Any] | None = None

    @property
    def counts(self) -> bool:
        """Not overridden: counts in full (and an auto-fail still fails the conversation)."""
        return self.override is None

    @property
    def stands(self) -> bool:
        """Still costs points: not overridden, or re-weighed by a reviewer to more than 0."""
        return self.effective_points > 0 or (self.override is None)

    @property
    def effective_points(self) -> float:
        if self.override is None:
            return self.points
        points = self.override.get("points")
        return float(points) if points is not None else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "kind": self.kind, "label": KIND_LABELS.get(self.kind, self.kind), "section": self.section,
            "points": self.points, "message_id": self.message_id, "where": self.where, "ts": self.ts,
            "agent_id": self.agent_id, "rule": self.rule, "rule_text": self.rule_text, "source": self.source,
            "explanation": self.explanation, "quote": self.quote, "match": self.match, "start": self.start,
            "end": self.end, "category": self.category, "severity": self.severity, "fine_yuan": self.fine_yuan,
            "auto_fail": self.auto_fail, "related": list(self.related), "override": self.override,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Deduction:
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        values["related"] = tuple(values.get("related") or ())
        return cls(**values)


@dataclass(slots=True)
class MessageView:
    """A message as the drill-down shows it: who, when, what, and what was found on it."""

    message_id: str
    where: str
    role: str
    agent_id: str
    ts: float
    text: str
    auto: bool = False
    intents: tuple[str, ...] = ()
    latency_s: float | None = None
    limit_s: float | None = None
    on_time: bool | None = None
    fine_yuan: float = 0.0
    first_response: bool = False
    flags: tuple[Flag, ...] = ()
    deductions: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id, "where": self.where, "role": self.role, "agent_id": self.agent_id,
            "ts": self.ts, "text": self.text, "auto": self.auto, "intents": list(self.intents),
            "latency_s": self.latency_s, "limit_s": self.limit_s, "on_time": self.on_time,
            "fine_yuan": self.fine_yuan, "first_response": self.first_response,
            "flags": [_flag_dict(f) for f in self.flags], "deductions": list(self.deductions),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MessageView:
        values = dict(data)
        values["intents"] = tuple(values.get("intents") or ())
        values["flags"] = tuple(Flag(**f) for f in values.get("flags") or ())
        values["deductions"] = list(values.get("deductions") or ())
        return cls(**values)


def _flag_dict(flag: Flag) -> dict[str, Any]:
    return {"rule": flag.rule, "category": flag.category, "severity": flag.severity, "start": flag.start,
            "end": flag.end, "match": flag.match, "message": flag.message, "suggestion": flag.suggestion}


@dataclass(frozen=True, slots=True)
class RoundStat:
    """One answered buyer wait (a reply round), as the engine timed it."""

    agent_id: str
    latency_s: float
    limit_s: float
    first: bool
    on_time: bool
    fine_yuan: float
    over_platform: bool
    message_id: str
    started_by: str

    def to_dict(self) -> dict[str, Any]:
        return {"agent_id": self.agent_id, "latency_s": self.latency_s, "limit_s": self.limit_s, "first": self.first,
                "on_time": self.on_time, "fine_yuan": self.fine_yuan, "over_platform": self.over_platform,
                "message_id": self.message_id, "started_by": self.started_by}


@dataclass(slots=True)
class ConversationScore:
    key: str
    conversation_id: str
    segment: int
    day: str
    start_ts: float
    end_ts: float
    primary_agent: str
    agents: tuple[str, ...]
    n_messages: int
    n_buyer: int
    n_agent: int
    n_auto: int
    n_system: int
    first_response_s: float | None
    rounds: list[RoundStat]
    unanswered: int
    sla_warnings: int
    sla_breaches: int
    intents: dict[str, int]
    obligations: list[dict[str, Any]]
    deductions: list[Deduction]
    messages: list[MessageView]
    warnings: list[dict[str, str]]
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)
    score: float = 100.0
    auto_fail: bool = False

    @property
    def fines_yuan(self) -> float:
        return sum(r.fine_yuan for r in self.rounds)

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key, "conversation_id": self.conversation_id, "segment": self.segment, "day": self.day,
            "start_ts": self.start_ts, "end_ts": self.end_ts, "primary_agent": self.primary_agent,
            "agents": list(self.agents), "n_messages": self.n_messages, "n_buyer": self.n_buyer,
            "n_agent": self.n_agent, "n_auto": self.n_auto, "n_system": self.n_system,
            "first_response_s": self.first_response_s, "fines_yuan": self.fines_yuan,
            "rounds": [r.to_dict() for r in self.rounds], "unanswered": self.unanswered,
            "sla_warnings": self.sla_warnings, "sla_breaches": self.sla_breaches, "intents": dict(self.intents),
            "obligations": list(self.obligations), "score": self.score, "auto_fail": self.auto_fail,
            "sections": self.sections, "deductions": [d.to_dict() for d in self.deductions],
            "messages": [m.to_dict() for m in self.messages], "warnings": list(self.warnings),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConversationScore:
        values = {f.name: data[f.name] for f in fields(cls) if f.name in data}
        values["agents"] = tuple(values.get("agents") or ())
        values["rounds"] = [RoundStat(**r) for r in data.get("rounds") or ()]
        values["deductions"] = [Deduction.from_dict(d) for d in data.get("deductions") or ()]
        values["messages"] = [MessageView.from_dict(m) for m in data.get("messages") or ()]
        return cls(**values)


def rescore(conversation: ConversationScore, sections: tuple[Section, ...]) -> ConversationScore:
    """Recompute section scores, total and auto-fail from the standing deductions (in place)."""
    deducted = {s.id: 0.0 for s in sections}
    counts = {s.id: 0 for s in sections}
    auto_fail = False
    for deduction in conversation.deductions:
        if deduction.section in deducted:
            deducted[deduction.section] += deduction.effective_points
            counts[deduction.section] += 1 if deduction.effective_points else 0
        auto_fail = auto_fail or (deduction.auto_fail and deduction.counts)
    result: dict[str, dict[str, Any]] = {}
    total = 0.0
    for section in sections:
        score = max(0.0, section.weight - deducted[section.id])
        total += score
        result[section.id] = {"name": section.name, "weight": section.weight,
                              "deducted": round(deducted[section.id], 2), "score": round(score, 2),
                              "deductions": counts[section.id]}
    conversation.sections = result
    conversation.auto_fail = auto_fail
    conversation.score = 0.0 if auto_fail else round(total, 2)
    return conversation
