"""Messages in file order → whole conversations, streaming, with flat memory.

A *conversation* is scored as a unit: the messages of one ``conversation_id``, sorted by time
(equal times keep file order), split into **sessions** wherever the chat pauses longer than
``session_gap_s`` (default 2 h).  A buyer who comes back the next day starts a new session with
a fresh first-response limit, instead of one absurd 14-hour "wait"; the second session's key is
``<id>#2``.  This is a property of the data, so the in-memory and streaming modes agree.

Streaming (the default for files): a conversation is *flushed* (sorted, split, handed on for
scoring, forgotten) once it has gone quiet, checked every ``sweep_every`` messages:

* **input sorted by time** (interleaved conversations): when the newest timestamp read so far
  is more than ``session_gap_s + reorder_window_s`` past the conversation's last message, and
  at least ``min_idle_messages`` other messages came since — nothing later can still belong to
  it unless the file is out of order by more than the reorder window;
* **input grouped by conversation**: when ``max_idle_messages`` messages of other conversations
  have been read since its last one.

Memory then holds only the open conversations (plus ~150 bytes per conversation id flushed in
the last ``forget_after_s``, 7 days of input time, to number later sessions), not the file.  If input is in neither order and a message
arrives for a conversation already scored, it is scored as a further session and a warning says
so; ``streaming=False`` (used for uploads) holds everything and is exact for any order.

Out-of-order messages inside a conversation are sorted, with a warning at their ``file:line``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .messages import Message, Problem

__all__ = ["Conversation", "Grouper", "DEFAULT_SESSION_GAP_S"]

DEFAULT_SESSION_GAP_S = 2 * 3600.0


@dataclass(slots=True)
class Conversation:
    """One session of one conversation, messages in time order."""

    key: str
    conversation_id: str
    segment: int
    messages: list[Message]
    warnings: list[Problem] = field(default_factory=list)

    def pack(self) -> tuple[Any, ...]:
        """Plain tuples: pickling these is ~10× cheaper than dataclasses (sent to worker processes)."""
        return (self.key, self.conversation_id, self.segment,
                [(m.conversation_id, m.role, m.agent_id, m.text, m.ts, m.message_id, m.where, m.auto, m.seq)
                 for m in self.messages],
                [(w.where, w.message, w.level) for w in self.warnings])

    @classmethod
    def unpack(cls, packed: tuple[Any, ...]) -> Conversation:
        key, conversation_id, segment, messages, warnings = packed
        return cls(key, conversation_id, segment, [Message(*m) for m in messages], [Problem(*w) for w in warnings])


@dataclass(slots=True)
class _Open:
    messages: list[Message]
    last_ts: float
    last_seq: int


@dataclass(slots=True)
class _Flushed:
    segments: int
    last_ts: float


class Grouper:
    """Feed messages with ``add``; finished conversations come out of ``add`` and ``finish``."""

    def __init__(self, session_gap_s: float = DEFAULT_SESSION_GAP_S, streaming: bool = True,
                 reorder_window_s: float = 600.0, min_idle_messages: int = 1000,
                 max_idle_messages: int = 20000, sweep_every: int = 1024,
                 forget_after_s: float = 7 * 86400.0) -> None:
        self.session_gap_s = session_gap_s if session_gap_s and session_gap_s > 0 else float("inf")
        self.streaming = streaming
        self.reorder_window_s = reorder_window_s
        self.min_idle_messages = min_idle_messages
        self.max_idle_messages = max_idle_messages
        self.sweep_every = sweep_every
        self.forget_after_s = forget_after_s
        self._sweeps = 0
        self._open: dict[str, _Open] = {}
        self._flushed: dict[str, _Flushed] = {}
        self._seq = 0
        self._watermark = float("-inf")
        self.buffered = 0
        self.peak_buffered = 0

    def add(self, message: Message) -> list[Conversation]:
        self._seq += 1
        message.seq = self._seq
        if message.ts > self._watermark:
            self._watermark = message.ts
        cid = message.conversation_id
        entry = self._open.get(cid)
        if entry is None:
            self._open[cid] = _Open([message], message.ts, self._seq)
        else:
            entry.messages.append(message)
            if message.ts > entry.last_ts:
                entry.last_ts = message.ts
            entry.last_seq = self._seq
        self.buffered += 1
        if self.buffered > self.peak_buffered:
            self.peak_buffered = self.buffered
        if self.streaming and self._seq % self.sweep_every == 0:
            return self._sweep()
        return []

    def finish(self) -> list[Conversation]:
        """Flush every open conversation (in order of first appearance)."""
        out: list[Conversation] = []
        for cid in list(self._open):
            out.extend(self._flush(cid))
        return out

    # ------------------------------------------------------------------ internals
    def _sweep(self) -> list[Conversation]:
        horizon = self._watermark - self.session_gap_s - self.reorder_window_s
        seq = self._seq
        due = [
            cid for cid, entry in self._open.items()
            if (seq - entry.last_seq >= self.min_idle_messages and entry.last_ts < horizon)
            or seq - entry.last_seq >= self.max_idle_messages
        ]
        out: list[Conversation] = []
        for cid in due:
            out.extend(self._flush(cid))
        self._sweeps += 1
        if self._sweeps % 64 == 0:  # forget ids long finished (a return after that is numbered afresh)
            old = self._watermark - self.forget_after_s
            for cid in [c for c, f in self._flushed.items() if f.last_ts < old]:
                del self._flushed[cid]
        return out

    def _flush(self, cid: str) -> Iterator[Conversation]:
        entry = self._open.pop(cid)
        self.buffered -= len(entry.messages)
        messages = entry.messages
        warnings: list[Problem] = []
        latest = float("-inf")
        for message in messages:  # file order
            if message.ts < latest:
                warnings.append(Problem(message.where, "时间早于同一会话中前面的消息，已按时间排序"
                                                       " / earlier than a preceding message of this conversation; sorted",
                                        "warning"))
            else:
                latest = message.ts
        if warnings:
            messages.sort(key=lambda m: (m.ts, m.seq))
        previous = self._flushed.get(cid)
        segments = previous.segments if previous else 0
        if previous is not None and messages[0].ts <= previous.last_ts + self.session_gap_s:
            warnings.append(Problem(
                messages[0].where,
                f"会话 {cid} 在已计分之后又出现了消息（输入没有按时间或会话排序），这些消息作为新的一段单独计分"
                f" / conversation reappeared after it was scored (input not sorted); scored as a further session",
                "warning"))
        start = 0
        for i in range(1, len(messages) + 1):
            if i == len(messages) or messages[i].ts - messages[i - 1].ts > self.session_gap_s:
                segments += 1
                part = messages[start:i]
                key = cid if segments == 1 else f"{cid}#{segments}"
                mine = [w for w in warnings if _in_part(w, part)] if warnings else []
                yield Conversation(key, cid, segments, part, mine)
                start = i
        self._flushed[cid] = _Flushed(segments, messages[-1].ts)


def _in_part(warning: Problem, part: list[Message]) -> bool:
    return any(m.where == warning.where for m in part)
