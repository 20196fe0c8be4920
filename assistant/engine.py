"""The conversation engine: one pure state machine fed by the live service and by QA replay.

Events go in (``buyer_message``, ``agent_reply``, ``close``, ``tick(now)``) with their own
timestamps; findings come out (coaching, reply timing, SLA warning/breach, obligations met or
missed).  No clock, no I/O: the service passes the wall clock, replay passes the transcript's
timestamps, so the live countdown and the QA report use the same definition and agree.

Reply timer (FIELD.md "Reply timers people trust"):

    IDLE ──buyer message──▶ WAITING ──75 % of limit──▶ WARNED ──limit──▶ BREACHED
      ▲                        │                          │                  │
      └──── human agent reply / buyer's "thanks, bye" / conversation closed ─┘

A round starts at the first unanswered buyer message (later buyer messages do not restart
it) and ends at the first reply by a human; auto-replies end it only if the shop says so.  The
limit is the shift's ``first_response_s`` for the conversation's first round, else ``answer_s``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from zoneinfo import ZoneInfo

from classifiers.intent.model import OTHER, Prediction
from classifiers.text import normalise
from classifiers.wording import Flag
from phrasebook.schema import Obligation

from .policy import CompiledPolicy
from .suggest import Suggestion, suggest

__all__ = [
    "ConversationEngine", "RoundState", "Coaching", "ReplyTiming", "SlaWarning", "SlaBreach",
    "ObligationOutcome", "BuyerChasedAgain", "Finding", "Classify",
]

Classify = Callable[[str], Prediction]


class RoundState(Enum):
    IDLE = "idle"
    WAITING = "waiting"
    WARNED = "warned"
    BREACHED = "breached"
    CLOSED = "closed"


@dataclass(frozen=True)
class Coaching:
    conversation_id: str
    message_id: str
    prediction: Prediction
    suggestions: tuple[Suggestion, ...]
    deadline: float | None
    limit_s: float | None
    reminders: tuple[str, ...]


@dataclass(frozen=True)
class ReplyTiming:
    conversation_id: str
    message_id: str
    ts: float
    latency_s: float | None  # None: nothing was waiting (a follow-up message)
    limit_s: float | None
    on_time: bool
    fine_yuan: float
    first_response: bool
    flags: tuple[Flag, ...]
    round_started: float | None
    auto: bool = False
    platform_on_time: bool = True  # within the marketplace's own measure (3 min by default)


@dataclass(frozen=True)
class SlaWarning:
    conversation_id: str
    seconds_left: float
    deadline: float


@dataclass(frozen=True)
class SlaBreach:
    conversation_id: str
    overdue_s: float
    deadline: float


@dataclass(frozen=True)
class ObligationOutcome:
    conversation_id: str
    message_id: str  # the buyer message that raised it
    intent: str
    obligation: Obligation
    met: bool
    met_by: str | None  # agent message id that met it


@dataclass(frozen=True)
class BuyerChasedAgain:
    conversation_id: str
    message_id: str
    previous_message_id: str


Finding = Coaching | ReplyTiming | SlaWarning | SlaBreach | ObligationOutcome | BuyerChasedAgain


@dataclass
class _Round:
    started: float
    limit_s: float
    first: bool
    message_ids: list[str]
    state: RoundState = RoundState.WAITING

    @property
    def warn_at(self) -> float:
        return self.started + self.limit_s * self._fraction

    @property
    def deadline(self) -> float:
        return self.started + self.limit_s

    _fraction: float = 0.75


@dataclass
class _Pending:
    message_id: str
    intent: str
    obligation: Obligation
    met_by: str | None = None


@dataclass
class _Conversation:
    id: str
    answered_once: bool = False
    round: _Round | None = None
    closed: bool = False
    pending: list[_Pending] = field(default_factory=list)
    last_chase: str | None = None
    replied_since_chase: bool = False
    variables: dict[str, str] = field(default_factory=dict)
    last_ts: float = 0.0  # time of the latest buyer message or reply


class ConversationEngine:
    """All conversations of one agent connection (live) or one transcript (replay)."""

    def __init__(self, policy: CompiledPolicy, classify: Classify | None = None,
                 tz: str = "Asia/Shanghai", limit_scale: float = 1.0, shift_override: str = "",
                 usage: dict[str, int] | None = None) -> None:
        self.policy = policy
        self.classify = classify or (policy.model.predict if policy.model else _no_model)
        self.tz = ZoneInfo(tz)
        self.limit_scale = limit_scale
        self.shift_override = shift_override
        self.usage = usage if usage is not None else {}
        self.conversations: dict[str, _Conversation] = {}
        closing = policy.book.response.closing_phrases
        self._closing = frozenset(normalise(p).text for p in closing)

    # ------------------------------------------------------------ helpers
    def _conversation(self, conversation_id: str) -> _Conversation:
        conv = self.conversations.get(conversation_id)
        if conv is None:
            conv = self.conversations[conversation_id] = _Conversation(conversation_id)
        return conv

    def limit_for(self, ts: float, first: bool) -> float:
        response = self.policy.book.response
        shift = None
        if self.shift_override:
            shift = next((s for s in response.shifts if s.id == self.shift_override), None)
        if shift is None:
            local = datetime.fromtimestamp(ts, UTC).astimezone(self.tz)
            shift = response.shift_at(local.hour * 60 + local.minute)
        return (shift.first_response_s if first else shift.answer_s) * self.limit_scale

    def is_closing(self, text: str) -> bool:
        """A plain thanks/bye/ok that needs no answer."""
        return normalise(text).text in self._closing

    def set_variables(self, conversation_id: str, variables: dict[str, str]) -> None:
        self._conversation(conversation_id).variables.update(variables)

    # ------------------------------------------------------------ events
    def buyer_message(self, conversation_id: str, message_id: str, text: str, ts: float,
                      with_suggestions: bool = True) -> list[Finding]:
        conv = self._conversation(conversation_id)
        conv.closed = False
        conv.last_ts = max(conv.last_ts, ts)
        findings: list[Finding] = []
        closing = self.is_closing(text)
        prediction = self.classify(text)
        if closing:
            if conv.round is not None:  # the buyer said thanks/bye: stop the clock
                conv.round = None
        elif conv.round is None:
            first = not conv.answered_once
            limit = self.limit_for(ts, first)
            conv.round = _Round(ts, limit, first, [message_id])
            conv.round._fraction = self.policy.book.response.warning_fraction
        else:
            conv.round.message_ids.append(message_id)
        reminders: list[str] = []
        for intent in prediction.labels:
            if intent == OTHER:
                continue
            if intent == "delivery_chase":
                if conv.last_chase is not None and conv.replied_since_chase:
                    findings.append(BuyerChasedAgain(conversation_id, message_id, conv.last_chase))
                conv.last_chase, conv.replied_since_chase = message_id, False
            for obligation in self.policy.book.obligations_for(intent):
                if not any(p.obligation.id == obligation.id and p.met_by is None for p in conv.pending):
                    conv.pending.append(_Pending(message_id, intent, obligation))
                    reminders.append(obligation.description)
        suggestions: tuple[Suggestion, ...] = ()
        if with_suggestions and not closing:
            suggestions = suggest(self.policy, prediction, text, conv.variables, self.usage)
        rnd = conv.round
        findings.insert(0, Coaching(conversation_id, message_id, prediction, suggestions,
                                    rnd.deadline if rnd else None, rnd.limit_s if rnd else None,
                                    tuple(reminders)))
        return findings

    def agent_reply(self, conversation_id: str, message_id: str, text: str, ts: float,
                    auto: bool = False, template_id: str | None = None) -> list[Finding]:
        conv = self._conversation(conversation_id)
        conv.last_ts = max(conv.last_ts, ts)
        known = frozenset(conv.variables.values())
        flags = tuple(self.policy.check(text, known)) if not auto else ()
        findings: list[Finding] = []
        rnd = conv.round
        ends_round = rnd is not None and (not auto or self.policy.book.response.count_auto_replies)
        if rnd is not None and ends_round:
            latency = max(0.0, ts - rnd.started)
            over = latency - rnd.limit_s
            fine = math.ceil(over / self.policy.book.response.fine_step_s) * self.policy.book.response.fine_yuan \
                if over > 0 else 0.0
            platform_limit = self.policy.book.response.platform_limit_s * self.limit_scale
            findings.append(ReplyTiming(conversation_id, message_id, ts, latency, rnd.limit_s, over <= 0, fine,
                                        rnd.first, flags, rnd.started, auto, latency <= platform_limit))
            conv.round = None
            conv.answered_once = True
        else:
            findings.append(ReplyTiming(conversation_id, message_id, ts, None, None, True, 0.0,
                                        False, flags, None, auto))
        if not auto:
            conv.replied_since_chase = True
            if template_id:
                self.usage[template_id] = self.usage.get(template_id, 0) + 1
            compact = normalise(text).text
            for pending in conv.pending:
                words = self.policy.obligation_words.get(pending.obligation.id, ())
                if pending.met_by is None and any(w in compact for w in words):
                    pending.met_by = message_id
        return findings

    def close(self, conversation_id: str) -> list[Finding]:
        """The conversation ended: stop its clock and settle its obligations."""
        conv = self._conversation(conversation_id)
        conv.round = None
        conv.closed = True
        outcomes: list[Finding] = [
            ObligationOutcome(conversation_id, p.message_id, p.intent, p.obligation, p.met_by is not None, p.met_by)
            for p in conv.pending
        ]
        conv.pending = []
        return outcomes

    def forget(self, conversation_id: str) -> None:
        """Drop a finished conversation's state (replay streams millions of them)."""
        self.conversations.pop(conversation_id, None)

    def forget_idle(self, now: float, idle_s: float) -> int:
        """Drop conversations with no message or reply for ``idle_s`` (a live agent's day holds
        hundreds); their clocks fired long ago.  Returns how many were dropped."""
        stale = [cid for cid, conv in self.conversations.items() if conv.last_ts < now - idle_s]
        for cid in stale:
            del self.conversations[cid]
        return len(stale)

    def tick(self, now: float, conversation_ids: Iterable[str] | None = None) -> list[Finding]:
        """Warnings and breaches due at ``now`` (each fires once per round)."""
        findings: list[Finding] = []
        ids = self.conversations.keys() if conversation_ids is None else conversation_ids
        for conversation_id in list(ids):
            conv = self.conversations.get(conversation_id)
            rnd = conv.round if conv else None
            if rnd is None:
                continue
            if rnd.state is RoundState.WAITING and now >= rnd.warn_at and now < rnd.deadline:
                rnd.state = RoundState.WARNED
                findings.append(SlaWarning(conversation_id, rnd.deadline - now, rnd.deadline))
            if rnd.state in (RoundState.WAITING, RoundState.WARNED) and now >= rnd.deadline:
                rnd.state = RoundState.BREACHED
                findings.append(SlaBreach(conversation_id, now - rnd.deadline, rnd.deadline))
        return findings

    def next_alarm(self) -> float | None:
        """The earliest time ``tick`` would report something, for the service's timer."""
        times = []
        for conv in self.conversations.values():
            rnd = conv.round
            if rnd is None:
                continue
            if rnd.state is RoundState.WAITING:
                times.append(rnd.warn_at)
            elif rnd.state is RoundState.WARNED:
                times.append(rnd.deadline)
        return min(times) if times else None

    def waiting_since(self, conversation_id: str) -> float | None:
        conv = self.conversations.get(conversation_id)
        return conv.round.started if conv and conv.round else None


def _no_model(text: str) -> Prediction:
    return Prediction(text, OTHER, ())
