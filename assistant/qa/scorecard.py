"""The scorecard: replay one conversation through the ConversationEngine and score what it finds.

Nothing here decides timing, wording or obligations: ``ConversationEngine`` does, exactly as it
does live.  ``Scorer.score`` feeds the transcript's messages to the engine with their own
timestamps (``tick`` before every event, ``close`` at the end) and turns the findings into
deductions, each pointing at its message and quoting its rule:

============================  ===========  =====  ===============================================
finding (engine → deduction)   section      pts   rule quoted
============================  ===========  =====  ===============================================
ReplyTiming, first, late       响应时效     10    shift's ``first_response_s``; fine = ``fine_yuan``
ReplyTiming, later, late       响应时效      5    shift's ``answer_s``; fine = ``fine_yuan``
round still open at the end    响应时效     20    never leave a message unanswered (000:1247)
flag, severity ``block``       服务用语     30    the wording rule — and the conversation scores 0
flag, severity ``warn``        服务用语      5    the wording rule (no honorific, 但是, ...)
no thanks in the last replies  服务用语      5    thank the buyer at the end (000:609)
ObligationOutcome, missed      问题处理     10    the intent's obligation (e.g. ask for photos)
BuyerChasedAgain               问题处理     10    never make the buyer chase twice (002:255)
============================  ===========  =====  ===============================================

Sections: 响应时效 40, 服务用语 30, 问题处理 30; a section never goes below 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from classifiers.intent.model import OTHER
from classifiers.text import normalise
from phrasebook.schema import Phrasebook

from ..engine import (
    BuyerChasedAgain,
    Coaching,
    ConversationEngine,
    ObligationOutcome,
    ReplyTiming,
    SlaBreach,
    SlaWarning,
)
from ..policy import CompiledPolicy
from .classify import Classify, memo_classify, memo_policy, replay_classifier
from .findings import KIND_SECTION, ConversationScore, Deduction, MessageView, RoundStat, Section, rescore
from .grouping import Conversation
from .messages import DEFAULT_TZ, Message, zone

__all__ = ["ScorecardConfig", "Scorer", "DEFAULT_SECTIONS", "DEFAULT_POINTS", "DEFAULT_SCORECARD"]

DEFAULT_SECTIONS = (Section("timing", "响应时效", 40.0), Section("wording", "服务用语", 30.0),
                    Section("handling", "问题处理", 30.0))
DEFAULT_POINTS: dict[str, float] = {
    "late_first_response": 10.0, "late_reply": 5.0, "unanswered": 20.0,
    "wording_block": 30.0, "wording_warn": 5.0, "no_thanks": 5.0,
    "obligation_missed": 10.0, "chased_again": 10.0,
}
#: Where the QA-level rules come from (POLICY.md; the wording rules carry their own sources).
SOURCES = {"late_first_response": "004:95", "late_reply": "003:223", "unanswered": "000:1247",
           "no_thanks": "000:609", "chased_again": "002:255"}
UNANSWERED_RULE = "旺旺留言一定要回复，禁止不回复"
THANKS_RULE = "服务结束时要感谢买家（谢谢/感谢您的支持）"
CHASE_RULE = "发货延迟要先告知买家、主动跟进，不能让买家催第二次"


@dataclass(frozen=True)
class ScorecardConfig:
    """Sections, points per kind of deduction, and the thanks check (all shop-tunable)."""

    sections: tuple[Section, ...] = DEFAULT_SECTIONS
    points: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_POINTS))
    thanks_words: tuple[str, ...] = ("谢谢", "感谢", "多谢", "谢啦", "谢了", "辛苦您", "辛苦亲", "辛苦了")
    thanks_window: int = 2  # the last N human replies of the conversation are searched for thanks

    def to_dict(self) -> dict[str, Any]:
        return {"sections": [{"id": s.id, "name": s.name, "weight": s.weight} for s in self.sections],
                "points": dict(self.points), "thanks_words": list(self.thanks_words),
                "thanks_window": self.thanks_window}

    @classmethod
    def from_phrasebook(cls, book: Phrasebook) -> ScorecardConfig:
        """The shop's scorecard from the phrasebook's ``qa`` section (defaults where it is silent)."""
        qa = book.qa
        if qa is None:
            return cls()
        unknown = sorted(set(qa.points) - set(DEFAULT_POINTS))
        if unknown:
            raise ValueError(f"qa.points: unknown kinds {unknown} (expected some of: {', '.join(DEFAULT_POINTS)})")
        sections = tuple(Section(s.id, s.name, s.weight) for s in qa.sections)
        known = {s.id for s in DEFAULT_SECTIONS}
        if {s.id for s in sections} != known:
            raise ValueError(f"qa.sections must be exactly {sorted(known)}")
        return cls(sections, {**DEFAULT_POINTS, **qa.points}, qa.thanks_words or cls().thanks_words, qa.thanks_window)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScorecardConfig:
        return cls(tuple(Section(s["id"], s["name"], float(s["weight"])) for s in data["sections"]),
                   {k: float(v) for k, v in data["points"].items()}, tuple(data["thanks_words"]),
                   int(data["thanks_window"]))


DEFAULT_SCORECARD = ScorecardConfig()


def _clock(ts: float, tz: str) -> str:
    return datetime.fromtimestamp(ts, zone(tz)).strftime("%H:%M:%S")


def _snippet(text: str, limit: int = 40) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Scorer:
    """Scores conversations one at a time with one engine (create one per process)."""

    def __init__(self, policy: CompiledPolicy, classify: Classify | None = None,
                 config: ScorecardConfig = DEFAULT_SCORECARD, tz: str = DEFAULT_TZ, memo: bool = True) -> None:
        classify = classify or replay_classifier(policy)
        self.policy = memo_policy(policy) if memo else policy
        self.classify = memo_classify(classify) if memo else classify
        self.config = config
        self.tz = tz
        self.engine = ConversationEngine(self.policy, self.classify, tz=tz)
        self.book = policy.book
        self.response = policy.book.response
        self.rules = {r.id: r for r in policy.book.rules}
        self.intent_names = {i.id: i.name for i in policy.book.intents}
        self.thanks = tuple(w for w in (normalise(t).text for t in config.thanks_words) if w)

    # ------------------------------------------------------------------ public
    def prefetch(self, conversations: Iterable[Conversation]) -> None:
        """Classify the new buyer texts of a batch of conversations in one call (memo only)."""
        prefetch = getattr(self.classify, "prefetch", None)
        if prefetch is not None:
            prefetch(m.text for c in conversations for m in c.messages if m.role == "buyer")

    def score(self, conversation: Conversation) -> ConversationScore:
        run = _Run(self, conversation)
        try:
            return run.play()
        finally:
            self.engine.forget(conversation.key)

    # ------------------------------------------------------------------ helpers
    def shift_at(self, ts: float) -> Any:
        local = datetime.fromtimestamp(ts, zone(self.tz))
        return self.response.shift_at(local.hour * 60 + local.minute)

    def points(self, kind: str) -> float:
        return float(self.config.points.get(kind, 0.0))


class _Run:
    """The state of scoring one conversation."""

    def __init__(self, scorer: Scorer, conversation: Conversation) -> None:
        self.s = scorer
        self.c = conversation
        self.key = conversation.key
        self.deductions: list[Deduction] = []
        self.views: dict[str, MessageView] = {}  # by message id (a repeated id: the latest)
        self.view_list: list[MessageView] = []
        self.messages: dict[str, Message] = {}
        self.rounds: list[RoundStat] = []
        self.round_messages: list[Message] = []
        self.human_replies: list[Message] = []
        self.intents: dict[str, int] = {}
        self.obligations: list[dict[str, Any]] = []
        self.sla_warnings = 0
        self.sla_breaches = 0
        self.last_agent = ""
        self.assigned = next((m.agent_id for m in conversation.messages if m.agent_id), "")

    # ------------------------------------------------------------------ replay
    def play(self) -> ConversationScore:
        engine, key = self.s.engine, self.key
        engine.forget(key)
        for message in self.c.messages:
            for finding in engine.tick(message.ts, (key,)):
                if isinstance(finding, SlaWarning):
                    self.sla_warnings += 1
                elif isinstance(finding, SlaBreach):
                    self.sla_breaches += 1
            view = MessageView(message.message_id, message.where, message.role, message.agent_id, message.ts,
                               message.text, message.auto)
            self.views[message.message_id] = view
            self.view_list.append(view)
            self.messages[message.message_id] = message
            if message.role == "buyer":
                self._buyer(message, view)
            elif message.role == "agent":
                self._agent(message, view)
            if engine.waiting_since(key) is None:
                self.round_messages = []
        if engine.waiting_since(key) is not None and self.round_messages:
            self._unanswered()
        for outcome in engine.close(key):
            if isinstance(outcome, ObligationOutcome):
                self._obligation(outcome)
        self._thanks()
        return self._result()

    def _buyer(self, message: Message, view: MessageView) -> None:
        engine, key = self.s.engine, self.key
        before = engine.waiting_since(key)
        findings = engine.buyer_message(key, message.message_id, message.text, message.ts, with_suggestions=False)
        if engine.waiting_since(key) is not None:
            if before is None:
                self.round_messages = [message]
            else:
                self.round_messages.append(message)
        for finding in findings:
            if isinstance(finding, Coaching):
                view.intents = tuple(i for i in finding.prediction.labels if i != OTHER)
                for intent in view.intents:
                    self.intents[intent] = self.intents.get(intent, 0) + 1
            elif isinstance(finding, BuyerChasedAgain):
                self._chased(finding, message)

    def _agent(self, message: Message, view: MessageView) -> None:
        findings = self.s.engine.agent_reply(self.key, message.message_id, message.text, message.ts,
                                             auto=message.auto)
        if not message.auto:
            self.human_replies.append(message)
            self.last_agent = message.agent_id
        for finding in findings:
            if not isinstance(finding, ReplyTiming):
                continue
            view.flags = finding.flags
            if finding.latency_s is not None and finding.limit_s is not None:
                self._timing(finding, message, view)
            for flag in finding.flags:
                self._flag(flag, message)

    # ------------------------------------------------------------------ deductions
    def _add(self, kind: str, message: Message, agent_id: str, rule: str, rule_text: str, source: str,
             explanation: str, suffix: str = "", points: float | None = None, **extra: Any) -> Deduction:
        deduction = Deduction(
            id=f"{self.key}|{kind}|{message.message_id}{suffix}", kind=kind, section=KIND_SECTION[kind],
            points=self.s.points(kind) if points is None else points, message_id=message.message_id,
            where=message.where, ts=message.ts, agent_id=agent_id, rule=rule, rule_text=rule_text,
            source=source, explanation=explanation, quote=_snippet(message.text, 120), **extra)
        self.deductions.append(deduction)
        self.views[message.message_id].deductions.append(deduction.id)
        return deduction

    def _timing(self, timing: ReplyTiming, message: Message, view: MessageView) -> None:
        assert timing.latency_s is not None and timing.limit_s is not None
        view.latency_s, view.limit_s, view.on_time = timing.latency_s, timing.limit_s, timing.on_time
        view.fine_yuan, view.first_response = timing.fine_yuan, timing.first_response
        started_by = self.round_messages[0] if self.round_messages else None
        self.rounds.append(RoundStat(message.agent_id, timing.latency_s, timing.limit_s, timing.first_response,
                                     timing.on_time, timing.fine_yuan, not timing.platform_on_time,
                                     message.message_id, started_by.message_id if started_by else ""))
        if timing.on_time:
            return
        response, tz = self.s.response, self.s.tz
        started = timing.round_started if timing.round_started is not None else message.ts - timing.latency_s
        shift = self.s.shift_at(started)
        first = timing.first_response
        kind = "late_first_response" if first else "late_reply"
        what = "首次响应" if first else "每次回复买家等待"
        rule_text = (f"{shift.name}（{shift.start}-{shift.end}）{what}不超过 {timing.limit_s:g} 秒；"
                     f"每超出 {response.fine_step_s:g} 秒（不足按 {response.fine_step_s:g} 秒计）罚 ¥{response.fine_yuan:g}")
        over = timing.latency_s - timing.limit_s
        explanation = (f"买家 {_clock(started, tz)} 发来消息，客服 {_clock(message.ts, tz)} 才"
                       f"{'首次' if first else ''}回复，用时 {timing.latency_s:g} 秒，超出时限 {over:g} 秒，"
                       f"罚 ¥{timing.fine_yuan:g}")
        self._add(kind, message, message.agent_id,
                  f"response.shifts.{shift.id}.{'first_response_s' if first else 'answer_s'}", rule_text,
                  SOURCES[kind], explanation, fine_yuan=timing.fine_yuan,
                  related=(started_by.message_id,) if started_by else ())

    def _flag(self, flag: Any, message: Message) -> None:
        rule = self.s.rules.get(flag.rule)
        block = flag.severity == "block"
        kind = "wording_block" if block else "wording_warn"
        rule_text = flag.message + (f"；建议：{flag.suggestion}" if flag.suggestion else "")
        explanation = (f"回复中的“{_snippet(flag.match, 30)}”：{flag.message}"
                       + ("（拦截级：本会话判 0 分）" if block else ""))
        self._add(kind, message, message.agent_id, flag.rule, rule_text, rule.source if rule else "",
                  explanation, suffix=f"|{flag.rule}@{flag.start}", match=flag.match, start=flag.start,
                  end=flag.end, category=flag.category, severity=flag.severity, auto_fail=block)

    def _chased(self, finding: BuyerChasedAgain, message: Message) -> None:
        previous = self.messages.get(finding.previous_message_id)
        when = f"{_clock(previous.ts, self.s.tz)} " if previous else ""
        explanation = (f"买家 {when}已催过一次，客服回复后买家又来催（“{_snippet(message.text)}”）："
                       "没有主动告知进展和跟进")
        self._add("chased_again", message, self.last_agent or self.assigned, "engine.buyer_chased_again",
                  CHASE_RULE, SOURCES["chased_again"], explanation, related=(finding.previous_message_id,))

    def _unanswered(self) -> None:
        first = self.round_messages[0]
        count = len(self.round_messages)
        more = f"（连同之后 {count - 1} 条）" if count > 1 else ""
        explanation = f"买家 {_clock(first.ts, self.s.tz)} 的消息{more}到会话结束都没有得到人工回复"
        self._add("unanswered", first, self.last_agent or self.assigned, "qa.unanswered", UNANSWERED_RULE,
                  SOURCES["unanswered"], explanation,
                  related=tuple(m.message_id for m in self.round_messages[1:]))

    def _obligation(self, outcome: ObligationOutcome) -> None:
        record = {"message_id": outcome.message_id, "intent": outcome.intent, "obligation": outcome.obligation.id,
                  "description": outcome.obligation.description, "met": outcome.met, "met_by": outcome.met_by}
        self.obligations.append(record)
        if outcome.met:
            return
        message = self.messages.get(outcome.message_id)
        if message is None:
            return
        replier = next((m for m in self.human_replies if m.seq > message.seq), None)
        intent = self.s.intent_names.get(outcome.intent, outcome.intent)
        words = "、".join(outcome.obligation.any_of[:6])
        explanation = (f"买家说“{_snippet(message.text)}”（识别为{intent}），之后的回复没有做到："
                       f"{outcome.obligation.description}（回复中应出现 {words} 等）")
        self._add("obligation_missed", message, replier.agent_id if replier else (self.last_agent or self.assigned),
                  outcome.obligation.id, outcome.obligation.description, outcome.obligation.source, explanation,
                  suffix=f"|{outcome.obligation.id}")

    def _thanks(self) -> None:
        if not self.human_replies or not any(m.role == "buyer" for m in self.c.messages):
            return
        window = self.human_replies[-max(1, self.s.config.thanks_window):]
        words = self.s.thanks
        # A hit in the raw text is a hit in the normalised text too; normalise only when needed.
        if any(word in m.text for m in window for word in words):
            return
        compact = [normalise(m.text).text for m in window]
        if any(word in text for text in compact for word in words):
            return
        last = window[-1]
        explanation = f"会话最后 {len(window)} 条人工回复里没有感谢买家（{'、'.join(self.s.config.thanks_words[:3])}…）"
        self._add("no_thanks", last, last.agent_id, "qa.thanks_at_end", THANKS_RULE, SOURCES["no_thanks"],
                  explanation)

    # ------------------------------------------------------------------ result
    def _result(self) -> ConversationScore:
        messages = self.c.messages
        replies: dict[str, int] = {}  # insertion order = order of first reply
        for m in self.human_replies:
            replies[m.agent_id] = replies.get(m.agent_id, 0) + 1
        primary = max(replies, key=replies.__getitem__) if replies else self.assigned  # ties: first to reply
        agents = tuple(dict.fromkeys(m.agent_id for m in messages if m.role == "agent" and m.agent_id))
        first = next((r.latency_s for r in self.rounds if r.first), None)
        self.deductions.sort(key=lambda d: d.ts)  # stable: same-time findings keep their order
        start = messages[0].ts
        day = datetime.fromtimestamp(start, zone(self.s.tz)).date().isoformat()
        result = ConversationScore(
            key=self.key, conversation_id=self.c.conversation_id, segment=self.c.segment, day=day,
            start_ts=start, end_ts=messages[-1].ts, primary_agent=primary, agents=agents,
            n_messages=len(messages), n_buyer=sum(1 for m in messages if m.role == "buyer"),
            n_agent=len(self.human_replies), n_auto=sum(1 for m in messages if m.role == "agent" and m.auto),
            n_system=sum(1 for m in messages if m.role == "system"), first_response_s=first, rounds=self.rounds,
            unanswered=sum(1 for d in self.deductions if d.kind == "unanswered"),
            sla_warnings=self.sla_warnings, sla_breaches=self.sla_breaches, intents=dict(self.intents),
            obligations=self.obligations, deductions=self.deductions, messages=self.view_list,
            warnings=[w.to_dict() for w in self.c.warnings],
        )
        return rescore(result, self.s.config.sections)
